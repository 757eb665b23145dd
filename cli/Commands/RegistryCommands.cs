using System.CommandLine;
using Google.Protobuf;
using OrleansFeatures.V1;

namespace OrleansFeatures.Cli.Commands;

/// <summary><c>list</c> (everything the registry defines) and <c>describe</c> (one feature view or feature service).</summary>
public static class RegistryCommands
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    public static Command List(CommandContext context)
    {
        var command = new Command("list", "the registry's version, entity types, sources, feature views and feature services");
        command.SetAction((parse, token) => context.RunAsync(parse, async cli =>
        {
            using var store = CommandContext.Connect(parse);
            var list = await store.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), cancellationToken: token);
            if (cli.Json)
            {
                cli.Out.WriteLine(Formatter.Format(list));
                return ExitCodes.Success;
            }

            cli.Line($"registry version {list.RegistryVersion}{(list.AppliedAt is { } at ? $", applied {at.ToDateTimeOffset():u}" : "")}");
            cli.Line("entity types:");
            foreach (var entity in list.EntityTypes)
            {
                cli.Line($"  {entity.Name} (key {entity.KeyField})");
            }

            cli.Line("sources:");
            foreach (var source in list.Sources)
            {
                cli.Line($"  {source.Name} ({string.Join(", ", source.Fields.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}: {ProtoText.Of(f.Value)}"))})");
            }

            cli.Line("feature views:");
            foreach (var view in list.FeatureViews)
            {
                cli.Line($"  {view.Name} v{view.Version} ({view.EntityType}, from {view.Source}, {view.Features.Count} feature(s){(view.Ttl is { } ttl ? $", ttl {ProtoText.Of(ttl)}" : "")})");
            }

            cli.Line("feature services:");
            foreach (var service in list.FeatureServices)
            {
                cli.Line($"  {service.Name} ({service.EntityType}): {string.Join(", ", service.Features)}");
            }

            return ExitCodes.Success;
        }));
        return command;
    }

    public static Command Describe(CommandContext context)
    {
        var kind = new Argument<string>("kind") { Description = "view or service" };
        kind.AcceptOnlyFromAmong("view", "service");
        var name = new Argument<string>("name") { Description = "the feature view's or feature service's name" };
        var command = new Command("describe", "one feature view (features, windows, filters) or feature service (columns, derived expressions, defaults)") { kind, name };
        command.SetAction((parse, token) => context.RunAsync(parse, async cli =>
        {
            using var store = CommandContext.Connect(parse);
            if (parse.GetValue(kind) == "view")
            {
                var view = await store.Registry.GetFeatureViewAsync(new GetFeatureViewRequest { Name = parse.GetValue(name) }, cancellationToken: token);
                if (cli.Json)
                {
                    cli.Out.WriteLine(Formatter.Format(view));
                    return ExitCodes.Success;
                }

                cli.Line($"feature view {view.Name} v{view.Version}: entity {view.EntityType} keyed by {view.KeyField}, source {view.Source}, ttl {(view.Ttl is { } ttl ? ProtoText.Of(ttl) : "none")}, allowed lateness {ProtoText.Of(view.AllowedLateness)}");
                foreach (var feature in view.Features)
                {
                    var how = feature.Aggregation == Aggregation.Latest ? $"latest {feature.Field}" : $"{(feature.FeatureType.Length > 0 ? $"C# feature type {feature.FeatureType}" : ProtoText.Of(feature.Aggregation))}{(feature.LastN > 0 ? $"({feature.LastN})" : "")}{(feature.Field.Length > 0 ? $" {feature.Field}" : "")} over {ProtoText.Of(feature.Window)} (tiles {ProtoText.Of(feature.Tile)})";
                    cli.Line($"  {feature.Name}: {ProtoText.Of(feature.Type)} = {how}{(feature.Where.Length > 0 ? $" where {feature.Where}" : "")}");
                }
            }
            else
            {
                var service = await store.Registry.GetFeatureServiceAsync(new GetFeatureServiceRequest { Name = parse.GetValue(name) }, cancellationToken: token);
                if (cli.Json)
                {
                    cli.Out.WriteLine(Formatter.Format(service));
                    return ExitCodes.Success;
                }

                cli.Line($"feature service {service.Name} ({service.EntityType}):");
                foreach (var feature in service.Features)
                {
                    var derived = service.Derived.TryGetValue(feature, out var expression) ? $" = {expression.Expression} ({ProtoText.Of(expression.Type)}, derived)" : "";
                    var request = service.RequestFields.TryGetValue(feature, out var requestType) ? $" ({ProtoText.Of(requestType)}, request field)" : "";
                    cli.Line($"  {feature}{derived}{request}{(service.Defaults.TryGetValue(feature, out var fallback) ? $" (default {ProtoText.Of(fallback)})" : "")}");
                }
            }

            return ExitCodes.Success;
        }));
        return command;
    }
}
