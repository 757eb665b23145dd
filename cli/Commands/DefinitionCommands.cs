using OrleansFeatures.Core.Engine;
using System.CommandLine;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.V1;
using CoreDocument = OrleansFeatures.Core.Definitions.DefinitionDocument;

namespace OrleansFeatures.Cli.Commands;

/// <summary><c>validate</c> (local, no server), <c>plan</c> and <c>apply</c> (against a running store).</summary>
public static class DefinitionCommands
{
    private static Argument<string[]> Paths() => new("paths")
    {
        Description = "definition files or folders (every .yaml/.yml below a folder)",
        Arity = ArgumentArity.OneOrMore,
    };

    public static Command Validate(CommandContext context)
    {
        var paths = Paths();
        var featureTypes = new Option<string?>("--feature-types") { Description = "folder of C# feature-type assemblies: also check that each type the definitions name is there and serves the declared type" };
        var command = new Command("validate", "check definition files locally with the store's own parser; errors as file:line:column field: message") { paths, featureTypes };
        command.SetAction((parse, _) => context.RunAsync(parse, cli =>
        {
            var documents = DefinitionFiles.Read(parse.GetValue(paths)!);
            var result = DefinitionLoader.Load(documents);
            if (result.Set is { } loaded && parse.GetValue(featureTypes) is { } folder)
            {
                var problems = FeatureTypeCatalog.LoadDirectory(folder).Check(loaded);
                if (problems.Count > 0)
                {
                    result = new DefinitionLoadResult(null, [.. problems.Select(p => new Core.Definitions.DefinitionError(folder, 0, 0, "", p))]);
                }
            }

            if (cli.Json)
            {
                cli.WriteJson(new
                {
                    valid = result.Succeeded,
                    files = documents.Count,
                    errors = result.Errors.Select(e => new { file = e.File, line = e.Line, column = e.Column, field = e.Field, message = e.Message }),
                    summary = result.Set is { } s ? Summary(s) : null,
                });
            }
            else if (result.Set is { } set)
            {
                cli.Line($"valid: {documents.Count} file(s); {set.EntityTypes.Count} entity type(s), {set.Sources.Count} source(s), {set.FeatureViews.Count} feature view(s), {set.FeatureServices.Count} feature service(s){DerivedSummary(set)}");
                foreach (var view in set.FeatureViews.Values.OrderBy(v => v.Name, StringComparer.Ordinal))
                {
                    foreach (var feature in view.Features.Where(f => f.Aggregation == AggregationKind.Plugin))
                    {
                        cli.Line($"  {view.Name}:{feature.Name}: C# feature type {feature.FeatureType} over {feature.Field}, {EventSchemaText(feature.Type)}");
                    }
                }

                foreach (var service in set.FeatureServices.Values.Where(s => s.HasDerivedColumns).OrderBy(s => s.Name, StringComparer.Ordinal))
                {
                    foreach (var column in service.Columns.Where(c => c.Derived is not null))
                    {
                        cli.Line($"  {service.Name}.{column.Name}: {EventSchemaText(column.Type)} = {column.Derived}");
                    }
                }
            }

            foreach (var error in result.Errors)
            {
                cli.Error.WriteLine(error.ToString());
            }

            return Task.FromResult(result.Succeeded ? ExitCodes.Success : ExitCodes.Invalid);
        }));
        return command;
    }

    private static object Summary(DefinitionSet set) => new
    {
        entity_types = set.EntityTypes.Count,
        sources = set.Sources.Count,
        feature_views = set.FeatureViews.Count,
        feature_services = set.FeatureServices.Count,
        derived_columns = set.FeatureServices.Values
            .SelectMany(s => s.Columns.Where(c => c.Derived is not null).Select(c => new { service = s.Name, name = c.Name, type = EventSchemaText(c.Type), expression = c.Derived!.Expression.Text }))
            .ToList(),
    };

    private static string DerivedSummary(DefinitionSet set)
    {
        var count = set.FeatureServices.Values.Sum(s => s.Columns.Count(c => c.Derived is not null));
        return count == 0 ? "" : $", {count} derived column(s)";
    }

    private static string EventSchemaText(Core.Events.ScalarKind kind) => Core.Events.EventSchema.KindName(kind);

    public static Command Plan(CommandContext context)
    {
        var paths = Paths();
        var command = new Command("plan", "show what applying these files would change in the running store (added/changed/removed, breaking); exit 3 when the store would refuse it") { paths };
        command.SetAction((parse, token) => context.RunAsync(parse, cli => SendAsync(parse, cli, parse.GetValue(paths)!, apply: false, expectedVersion: null, token)));
        return command;
    }

    public static Command Apply(CommandContext context)
    {
        var paths = Paths();
        var expected = new Option<long?>("--expected-registry-version") { Description = "apply only if the registry is still at this registry version (from list or a previous apply)" };
        var command = new Command("apply", "make these files the store's definitions (validated and planned by the store first)") { paths, expected };
        command.SetAction((parse, token) => context.RunAsync(parse, cli => SendAsync(parse, cli, parse.GetValue(paths)!, apply: true, parse.GetValue(expected), token)));
        return command;
    }

    private static async Task<int> SendAsync(ParseResult parse, CliOutput cli, string[] paths, bool apply, long? expectedVersion, CancellationToken cancellationToken)
    {
        var documents = DefinitionFiles.Read(paths);

        // Validate locally first: the same parser, so the same errors, without a round trip or a running store.
        var local = DefinitionLoader.Load(documents);
        if (!local.Succeeded)
        {
            return Report(cli, apply, null, local.Errors.Select(e => e.ToString()).ToList());
        }

        var request = new ApplyDefinitionsRequest();
        foreach (CoreDocument document in documents)
        {
            request.Documents.Add(new V1.DefinitionDocument { Name = document.Name, Yaml = document.Yaml });
        }

        if (expectedVersion is { } version)
        {
            request.ExpectedRegistryVersion = version;
        }

        // plan is apply's dry run: the same call with validate_only, which reports errors and refusals in the response.
        request.ValidateOnly = !apply;
        using var store = CommandContext.Connect(parse);
        var response = await store.Registry.ApplyDefinitionsAsync(request, cancellationToken: cancellationToken);
        return Report(cli, apply, response, response.Errors.Select(e => $"{e.File}:{e.Line}:{e.Column} {e.Field}: {e.Message}").ToList());
    }

    private static int Report(CliOutput cli, bool apply, ApplyDefinitionsResponse? response, List<string> errors)
    {
        var rejections = response?.Rejections.ToList() ?? [];
        var code = errors.Count > 0 ? ExitCodes.Invalid : rejections.Count > 0 ? ExitCodes.Refused : ExitCodes.Success;
        var changes = response?.Changes.ToList() ?? [];
        if (cli.Json)
        {
            cli.WriteJson(new
            {
                applied = response?.Applied ?? false,
                registry_version = response?.RegistryVersion,
                allowed = code == ExitCodes.Success,
                changes = changes.Select(c => new { kind = ProtoText.Of(c.Kind), object_type = ProtoText.Of(c.ObjectType), name = c.Name, description = c.Description, breaking = c.Breaking }),
                rejections,
                errors,
                exit_code = code,
            });
        }
        else
        {
            if (changes.Count == 0 && code == ExitCodes.Success)
            {
                cli.Line("no changes");
            }

            foreach (var change in changes)
            {
                var mark = change.Kind switch { V1.ChangeKind.Added => "+", V1.ChangeKind.Removed => "-", _ => "~" };
                cli.Line($"{mark} {ProtoText.Of(change.ObjectType)} {change.Name}: {change.Description}{(change.Breaking ? " [BREAKING]" : "")}");
            }

            if (code == ExitCodes.Success)
            {
                cli.Line(apply
                    ? $"applied: registry version {response!.RegistryVersion}"
                    : $"plan: {changes.Count} change(s), {changes.Count(c => c.Breaking)} breaking (allowed by a version bump); the store is at version {response!.RegistryVersion}");
            }
        }

        foreach (var error in errors)
        {
            cli.Error.WriteLine(error);
        }

        foreach (var rejection in rejections)
        {
            cli.Error.WriteLine($"refused: {rejection}");
        }

        return code;
    }
}
