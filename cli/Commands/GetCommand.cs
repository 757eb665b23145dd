using System.CommandLine;
using System.Globalization;
using OrleansFeatures.V1;

namespace OrleansFeatures.Cli.Commands;

/// <summary><c>get</c>: an online lookup, printed as a table or JSON.</summary>
public static class GetCommand
{
    public static Command Create(CommandContext context)
    {
        var entityType = new Option<string>("--entity-type", "-e") { Description = "entity type, e.g. user", Required = true };
        var ids = new Argument<string[]>("ids") { Description = "entity ids", Arity = ArgumentArity.OneOrMore };
        var features = new Option<string[]>("--feature", "-f") { Description = "view:feature (repeat for several)", AllowMultipleArgumentsPerToken = true };
        var service = new Option<string?>("--service", "-s") { Description = "a feature service: its columns, in order, with its defaults" };
        var command = new Command("get", "look up online features of entities (exactly one of --feature and --service)") { entityType, ids, features, service };
        command.SetAction((parse, token) => context.RunAsync(parse, async cli =>
        {
            var request = new GetOnlineFeaturesRequest { EntityType = parse.GetValue(entityType)! };
            request.EntityIds.Add(parse.GetValue(ids)!);
            var references = parse.GetValue(features) ?? [];
            var serviceName = parse.GetValue(service);
            if ((serviceName is null) == (references.Length == 0))
            {
                throw new ArgumentException("give exactly one of --feature and --service");
            }

            if (serviceName is not null)
            {
                request.FeatureService = serviceName;
            }
            else
            {
                request.Features = new FeatureReferences { References = { references } };
            }

            using var store = CommandContext.Connect(parse);
            var response = await store.Serving.GetOnlineFeaturesAsync(request, cancellationToken: token);
            if (cli.Json)
            {
                cli.WriteJson(new
                {
                    registry_version = response.RegistryVersion,
                    evaluated_at = response.EvaluatedAt?.ToDateTimeOffset().ToString("O", CultureInfo.InvariantCulture),
                    feature_names = response.FeatureNames,
                    entities = response.Entities.Select(e => new
                    {
                        entity_id = e.EntityId,
                        values = e.Values.Select(v => new
                        {
                            value = ToObject(v.Value),
                            status = StatusName(v.Status),
                            event_time = v.EventTime?.ToDateTimeOffset().ToString("O", CultureInfo.InvariantCulture),
                        }),
                    }),
                });
                return ExitCodes.Success;
            }

            var header = new List<string> { "entity_id" };
            header.AddRange(response.FeatureNames);
            var rows = new List<List<string>> { header };
            foreach (var entity in response.Entities)
            {
                var row = new List<string> { entity.EntityId };
                row.AddRange(entity.Values.Select(v => v.Status == FeatureStatus.Present ? Text(v.Value) : $"{Text(v.Value)} ({StatusName(v.Status)})".TrimStart()));
                rows.Add(row);
            }

            var widths = Enumerable.Range(0, header.Count).Select(c => rows.Max(r => r[c].Length)).ToArray();
            foreach (var row in rows)
            {
                cli.Line(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
            }

            return ExitCodes.Success;
        }));
        return command;
    }

    public static string StatusName(FeatureStatus status) => status switch
    {
        FeatureStatus.Present => "PRESENT",
        FeatureStatus.NotFound => "NOT_FOUND",
        FeatureStatus.Expired => "EXPIRED",
        FeatureStatus.Defaulted => "DEFAULTED",
        _ => "UNSPECIFIED",
    };

    public static object? ToObject(Value? value) => value?.KindCase switch
    {
        Value.KindOneofCase.Int64Value => value.Int64Value,
        Value.KindOneofCase.DoubleValue => value.DoubleValue,
        Value.KindOneofCase.StringValue => value.StringValue,
        Value.KindOneofCase.BoolValue => value.BoolValue,
        Value.KindOneofCase.ListValue => value.ListValue.Values.Select(ToObject).ToArray(),
        _ => null,
    };

    private static string Text(Value? value) => ToObject(value) switch
    {
        null => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        object?[] => ProtoText.Of(value),
        var other => Convert.ToString(other, CultureInfo.InvariantCulture) ?? "",
    };
}
