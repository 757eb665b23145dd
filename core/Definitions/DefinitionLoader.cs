using System.Globalization;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Expressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace OrleansFeatures.Core.Definitions;

/// <summary>
/// Loads definition documents (YAML) into a validated <see cref="DefinitionSet"/>, collecting every error with its
/// file, line, column and field path. The format is described in <c>core/Definitions/README.md</c>.
/// </summary>
public static class DefinitionLoader
{
    private static readonly string[] TopLevelKeys = ["entity", "key", "sources", "feature_views", "feature_services"];
    private static readonly string[] SourceKeys = ["name", "timestamp_field", "event_id_field", "fields"];
    private static readonly string[] ViewKeys = ["name", "version", "entity", "source", "key_field", "ttl", "allowed_lateness", "features"];
    private static readonly string[] FeatureKeys = ["name", "type", "aggregation", "field", "latest", "window", "tile", "where", "n"];
    private static readonly string[] ServiceKeys = ["name", "features", "request_fields", "derived", "defaults", "encodings"];
    private static readonly string[] EncodingKeys = ["categories"];
    private static readonly TimeSpan DefaultLateness = TimeSpan.FromHours(1);
    private const int MaxFieldPathLength = 256;
    private const int MaxErrorMessageLength = 512;

    public static DefinitionLoadResult Load(IReadOnlyList<DefinitionDocument> documents)
    {
        var context = new LoadContext();
        foreach (var document in documents)
        {
            ReadDocument(context, document);
        }

        var set = Resolve(context);
        return context.Errors.Count == 0 ? new DefinitionLoadResult(set, []) : new DefinitionLoadResult(null, Bounded(context.Errors));
    }

    /// <summary>
    /// At most <see cref="DefinitionLimits.MaxErrorsReported"/> errors, each of bounded length: every message that
    /// repeats document text shortens it, and this is the backstop for any that does not.
    /// </summary>
    private static List<DefinitionError> Bounded(List<DefinitionError> errors)
    {
        var bounded = new List<DefinitionError>(Math.Min(errors.Count, DefinitionLimits.MaxErrorsReported + 1));
        for (var i = 0; i < errors.Count && i < DefinitionLimits.MaxErrorsReported; i++)
        {
            var error = errors[i];
            bounded.Add(error with
            {
                File = EchoedText.Shorten(error.File, DefinitionLimits.MaxDocumentNameLength),
                Field = EchoedText.Shorten(error.Field, MaxFieldPathLength),
                Message = EchoedText.Shorten(error.Message, MaxErrorMessageLength),
            });
        }

        if (errors.Count > DefinitionLimits.MaxErrorsReported)
        {
            var last = errors[DefinitionLimits.MaxErrorsReported];
            bounded.Add(new DefinitionError(bounded[^1].File, last.Line, last.Column, "",
                string.Create(CultureInfo.InvariantCulture, $"{errors.Count - DefinitionLimits.MaxErrorsReported} more errors not shown (at most {DefinitionLimits.MaxErrorsReported} are reported)")));
        }

        return bounded;
    }

    private static void ReadDocument(LoadContext context, DefinitionDocument document)
    {
        if (DocumentPrescan.Check(document) is { } beyondLimits)
        {
            context.Errors.Add(beyondLimits);
            return;
        }

        var file = document.Name;
        YamlStream stream = [];
        try
        {
            stream.Load(new StringReader(document.Yaml));
        }
        catch (YamlException exception)
        {
            context.Error(file, exception.Start, "", $"YAML syntax error: {EchoedText.Shorten(exception.InnerException?.Message ?? exception.Message, MaxErrorMessageLength)}");
            return;
        }

        foreach (var yaml in stream.Documents)
        {
            if (yaml.RootNode is YamlScalarNode { Value: null or "" })
            {
                continue;
            }

            if (yaml.RootNode is not YamlMappingNode root)
            {
                context.Error(file, yaml.RootNode.Start, "", "a definition document must be a mapping (entity, sources, feature_views, feature_services)");
                continue;
            }

            var top = new Section(context, file, root, "", TopLevelKeys);
            var fileEntity = top.String("entity");
            if (fileEntity is not null)
            {
                var key = top.String("key", required: true);
                if (key is not null && IsName(context, file, top.Location("entity"), "entity", fileEntity))
                {
                    context.Entities.Add(new Located<EntityTypeDefinition>(new EntityTypeDefinition(fileEntity, key, top.Location("entity")), "entity"));
                }
            }
            else if (top.Has("key"))
            {
                top.ErrorAt("key", "key is given without entity");
            }

            foreach (var (node, path) in top.Sequence("sources"))
            {
                ReadSource(context, file, node, path);
            }

            foreach (var (node, path) in top.Sequence("feature_views"))
            {
                ReadView(context, file, node, path, fileEntity);
            }

            foreach (var (node, path) in top.Sequence("feature_services"))
            {
                ReadService(context, file, node, path);
            }
        }
    }

    private static void ReadSource(LoadContext context, string file, YamlNode node, string path)
    {
        if (!Section.TryCreate(context, file, node, path, SourceKeys, out var section))
        {
            return;
        }

        var name = section.String("name", required: true);
        var timestampField = section.String("timestamp_field") ?? "ts";
        var eventIdField = section.String("event_id_field") ?? "event_id";
        var fields = new Dictionary<string, ScalarKind>(StringComparer.Ordinal);
        if (section.Mapping("fields", required: true) is { } fieldMap)
        {
            foreach (var (keyNode, valueNode) in fieldMap.Children)
            {
                var fieldName = (keyNode as YamlScalarNode)?.Value ?? "";
                var typeText = (valueNode as YamlScalarNode)?.Value ?? "";
                if (ParseType(typeText) is { } kind)
                {
                    fields[fieldName] = kind;
                }
                else
                {
                    context.Error(file, valueNode.Start, $"{path}.fields.{EchoedText.Shorten(fieldName)}", $"unknown type '{EchoedText.Shorten(typeText)}' (expected one of int64, double, string, bool)");
                }
            }
        }

        if (name is null || !IsName(context, file, section.Location("name"), $"{path}.name", name))
        {
            return;
        }

        if (!fields.ContainsKey(eventIdField) && section.Has("event_id_field"))
        {
            section.ErrorAt("event_id_field", $"field '{eventIdField}' is not declared in fields");
        }

        if (!fields.ContainsKey(timestampField) && section.Has("timestamp_field"))
        {
            section.ErrorAt("timestamp_field", $"field '{timestampField}' is not declared in fields");
        }

        context.Sources.Add(new Located<SourceDefinition>(new SourceDefinition(name, timestampField, eventIdField, fields, section.Location("name")), path));
    }

    private static void ReadView(LoadContext context, string file, YamlNode node, string path, string? fileEntity)
    {
        if (!Section.TryCreate(context, file, node, path, ViewKeys, out var section))
        {
            return;
        }

        var name = section.String("name", required: true);
        var version = section.Integer("version") ?? 1;
        if (version < 1)
        {
            section.ErrorAt("version", $"version must be 1 or more, was {version}");
        }

        var entity = section.String("entity") ?? fileEntity;
        if (entity is null)
        {
            section.ErrorHere("entity", "the view names no entity and its file declares none");
        }

        var source = section.String("source", required: true);
        var ttl = section.Duration("ttl");
        var lateness = section.Duration("allowed_lateness", allowZero: true) ?? DefaultLateness;
        var features = new List<RawFeature>();
        var broken = false;
        foreach (var (featureNode, featurePath) in section.Sequence("features", required: true))
        {
            if (ReadFeature(context, file, featureNode, featurePath) is { } feature)
            {
                features.Add(feature);
            }
            else
            {
                broken = true;
            }
        }

        if (broken && name is not null)
        {
            // Already reported; references to this view's features would only repeat the error.
            context.BrokenViews.Add(name);
            context.IncompletelyReadViews.Add(name);
        }

        if (name is null || !IsName(context, file, section.Location("name"), $"{path}.name", name) || entity is null || source is null)
        {
            return;
        }

        context.Views.Add(new RawView(file, path, name, version, entity, source, section.String("key_field"), ttl, lateness, features,
            section.Location("name"), section.Location("source"), section.Location("key_field")));
    }

    private static RawFeature? ReadFeature(LoadContext context, string file, YamlNode node, string path)
    {
        if (!Section.TryCreate(context, file, node, path, FeatureKeys, out var section))
        {
            return null;
        }

        var name = section.String("name", required: true);
        if (name is not null && name.Length > DefinitionLimits.MaxNameLength)
        {
            section.ErrorAt("name", $"name '{EchoedText.Shorten(name)}' is {name.Length} characters; the limit is {DefinitionLimits.MaxNameLength}");
            return null;
        }

        var latest = section.String("latest");
        var aggregationText = section.String("aggregation");
        AggregationKind aggregation;
        string? featureType = null;
        if (latest is not null)
        {
            if (aggregationText is not null && aggregationText != "latest")
            {
                section.ErrorAt("aggregation", $"'latest: {latest}' and 'aggregation: {aggregationText}' conflict; give one");
                return null;
            }

            aggregation = AggregationKind.Latest;
        }
        else if (aggregationText is null)
        {
            section.ErrorHere("aggregation", $"a feature needs 'aggregation' ({AggregationNames.All}) or 'latest: <field>'");
            return null;
        }
        else if (AggregationNames.Parse(aggregationText) is { } parsed)
        {
            aggregation = parsed;
        }
        else if (FeatureTypeCatalog.IsTypeId(aggregationText))
        {
            aggregation = AggregationKind.Plugin;
            featureType = aggregationText;
        }
        else
        {
            section.ErrorAt("aggregation", $"unknown aggregation '{EchoedText.Shorten(aggregationText)}' (expected one of {AggregationNames.All}, or a C# feature type as name@version)");
            return null;
        }

        var field = latest ?? section.String("field");
        var window = section.Duration("window");
        var tile = section.Duration("tile");
        FilterExpression? where = null;
        if (section.String("where") is { } filterText)
        {
            try
            {
                where = FilterParser.Parse(filterText);
            }
            catch (FilterSyntaxException exception)
            {
                var at = section.Location("where");
                context.Errors.Add(new DefinitionError(file, at.Line, at.Column, $"{path}.where", $"{exception.Message} at position {exception.Position + 1} of \"{EchoedText.Shorten(filterText)}\""));
            }
        }

        var typeText = section.String("type");
        ScalarKind? declaredType = null;
        if (typeText is not null)
        {
            // A last_n serves a list: its type is written list<item type>, as describe shows it.
            declaredType = typeText.StartsWith("list<", StringComparison.Ordinal) && typeText.EndsWith('>')
                ? ParseType(typeText[5..^1]) is not null ? ScalarKind.List : null
                : ParseType(typeText);
            if (declaredType is null)
            {
                section.ErrorAt("type", $"unknown type '{typeText}' (expected one of int64, double, string, bool, or list<…> of one for last_n)");
            }
        }

        var lastN = 0;
        if (section.Has("n"))
        {
            if (aggregation != AggregationKind.LastN)
            {
                section.ErrorAt("n", $"n is the length of a last_n list; {aggregation.Word()} takes none");
            }
            else if (section.Integer("n") is { } n)
            {
                if (n is < 1 or > FeatureDefinition.MaxLastN)
                {
                    section.ErrorAt("n", $"n {n} is out of range: last_n keeps 1 to {FeatureDefinition.MaxLastN} values");
                }
                else
                {
                    lastN = n;
                }
            }
        }
        else if (aggregation == AggregationKind.LastN)
        {
            section.ErrorHere("n", $"last_n needs n, how many values it keeps (1 to {FeatureDefinition.MaxLastN}), e.g. n: 10");
        }

        if (aggregation == AggregationKind.Plugin && typeText is null)
        {
            section.ErrorHere("type", $"feature type {featureType} needs the type it serves (type: int64, double, string or bool), so definitions check without its assembly");
        }
        else if (aggregation == AggregationKind.Plugin && declaredType == ScalarKind.List)
        {
            // A list is last_n's value type; the SDK's values are scalars.
            section.ErrorAt("type", $"feature type {featureType} serves int64, double, string or bool, not '{typeText}'");
            declaredType = null;
        }

        if (aggregation == AggregationKind.Latest)
        {
            if (window is not null)
            {
                section.ErrorAt("window", "latest features have no window");
            }

            if (tile is not null)
            {
                section.ErrorAt("tile", "latest features have no tile");
            }
        }
        else
        {
            if (window is null && !section.Has("window"))
            {
                section.ErrorHere("window", $"{aggregationText} needs a window (e.g. 5m, 1h, 24h, 7d)");
            }

            if (aggregation == AggregationKind.Count && field is not null)
            {
                section.ErrorAt("field", "count counts events and takes no field; use where to count only some");
            }

            if (aggregation != AggregationKind.Count && field is null)
            {
                section.ErrorHere("field", aggregation.ReadsAnyValue() ? $"{aggregationText} needs a field" : $"{aggregationText} needs a numeric field");
            }

            if (window is { } w)
            {
                if (w.Ticks % TimeSpan.TicksPerSecond != 0)
                {
                    section.ErrorAt("window", $"window {DurationText.Format(w)} must be a whole number of seconds");
                }
                else if (tile is { } t && w.Ticks % t.Ticks != 0)
                {
                    section.ErrorAt("tile", $"tile {DurationText.Format(t)} does not divide window {DurationText.Format(w)} evenly");
                }
            }
        }

        return name is null ? null : new RawFeature(path, name, aggregation, field, window, tile, where, declaredType, section.Location("name"), section, featureType)
        {
            LastN = lastN,
            DeclaredTypeText = typeText,
        };
    }

    private static void ReadService(LoadContext context, string file, YamlNode node, string path)
    {
        if (!Section.TryCreate(context, file, node, path, ServiceKeys, out var section))
        {
            return;
        }

        var name = section.String("name", required: true);
        var requestFields = new Dictionary<string, (ScalarKind Type, Mark Mark, string Path)>(StringComparer.Ordinal);
        if (section.Mapping("request_fields") is { } fieldMap)
        {
            foreach (var (keyNode, valueNode) in fieldMap.Children)
            {
                var fieldName = (keyNode as YamlScalarNode)?.Value ?? "";
                var fieldPath = $"{path}.request_fields.{EchoedText.Shorten(fieldName)}";
                var typeText = (valueNode as YamlScalarNode)?.Value ?? "";
                if (!IsName(context, file, new SourceLocation(file, (int)keyNode.Start.Line, (int)keyNode.Start.Column), fieldPath, fieldName))
                {
                    continue;
                }

                if (ParseType(typeText) is { } kind)
                {
                    requestFields[fieldName] = (kind, keyNode.Start, fieldPath);
                }
                else
                {
                    context.Error(file, valueNode.Start, fieldPath, $"unknown type '{EchoedText.Shorten(typeText)}' (expected one of int64, double, string, bool)");
                }
            }
        }

        var derived = new Dictionary<string, RawDerived>(StringComparer.Ordinal);
        if (section.Mapping("derived") is { } derivedMap)
        {
            foreach (var (keyNode, valueNode) in derivedMap.Children)
            {
                var columnName = (keyNode as YamlScalarNode)?.Value ?? "";
                var columnPath = $"{path}.derived.{EchoedText.Shorten(columnName)}";
                if (!IsName(context, file, new SourceLocation(file, (int)keyNode.Start.Line, (int)keyNode.Start.Column), columnPath, columnName))
                {
                    continue;
                }

                if (requestFields.ContainsKey(columnName))
                {
                    context.Error(file, keyNode.Start, columnPath, $"'{columnName}' is both a request field and a derived column");
                }
                else if (valueNode is YamlScalarNode { Value: { Length: > 0 } expression })
                {
                    derived[columnName] = new RawDerived(expression, valueNode.Start, keyNode.Start, columnPath);
                }
                else
                {
                    context.Error(file, valueNode.Start, columnPath, "a derived column is an expression in text, e.g. \"clicks_1h / max(views_1h, 1)\"");
                }
            }
        }

        var columns = new List<RawColumn>();
        foreach (var (item, itemPath) in section.Sequence("features", required: true))
        {
            var text = (item as YamlScalarNode)?.Value;
            if (FeatureReference.TryParse(text, out var reference))
            {
                columns.Add(new RawColumn(reference.ToString(), reference, item.Start, itemPath));
            }
            else if (text is not null && requestFields.ContainsKey(text))
            {
                columns.Add(new RawColumn(text, null, item.Start, itemPath));
            }
            else if (text is not null && derived.TryGetValue(text, out var derivedColumn))
            {
                columns.Add(new RawColumn(text, null, item.Start, itemPath, derivedColumn));
            }
            else
            {
                context.Error(file, item.Start, itemPath, $"'{EchoedText.Shorten(text)}' is neither a feature reference of the form view:feature nor one of this service's request_fields or derived columns");
            }
        }

        foreach (var (columnName, column) in derived)
        {
            if (!columns.Exists(c => c.Derived is not null && c.Name == columnName))
            {
                context.Error(file, column.NameMark, column.Path, $"derived column '{columnName}' is not listed in features");
            }
        }

        foreach (var (fieldName, field) in requestFields)
        {
            if (!columns.Exists(c => c.Feature is null && c.Derived is null && c.Name == fieldName))
            {
                context.Error(file, field.Mark, field.Path, $"request field '{fieldName}' is not listed in features");
            }
        }

        var defaults = ScalarEntries(context, file, section.Mapping("defaults"), $"{path}.defaults", "a default must be a scalar value");
        var encodings = new List<(string Column, YamlNode Value, string Path)>();
        if (section.Mapping("encodings") is { } encodingMap)
        {
            foreach (var (keyNode, valueNode) in encodingMap.Children)
            {
                var key = (keyNode as YamlScalarNode)?.Value ?? "";
                encodings.Add((key, valueNode, $"{path}.encodings.{EchoedText.Shorten(key)}"));
            }
        }

        if (name is not null && IsName(context, file, section.Location("name"), $"{path}.name", name))
        {
            context.Services.Add(new RawService(
                file, path, name, columns, requestFields.ToDictionary(f => f.Key, f => f.Value.Type, StringComparer.Ordinal), defaults, encodings, section.Location("name")));
        }
    }

    private static List<(string Text, YamlScalarNode Value, string Path)> ScalarEntries(LoadContext context, string file, YamlMappingNode? map, string path, string notScalar)
    {
        var entries = new List<(string Text, YamlScalarNode Value, string Path)>();
        if (map is null)
        {
            return entries;
        }

        foreach (var (keyNode, valueNode) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (valueNode is YamlScalarNode scalar)
            {
                entries.Add((key, scalar, $"{path}.{key}"));
            }
            else
            {
                context.Error(file, valueNode.Start, $"{path}.{key}", notScalar);
            }
        }

        return entries;
    }

    private static DefinitionSet Resolve(LoadContext context)
    {
        var entities = new Dictionary<string, EntityTypeDefinition>(StringComparer.Ordinal);
        foreach (var (entity, path) in context.Entities)
        {
            if (!entities.TryAdd(entity.Name, entity))
            {
                context.Duplicate(entity.Location, path, "entity type", entity.Name, entities[entity.Name].Location);
            }
        }

        var sources = new Dictionary<string, SourceDefinition>(StringComparer.Ordinal);
        foreach (var (source, path) in context.Sources)
        {
            if (!sources.TryAdd(source.Name, source))
            {
                context.Duplicate(source.Location, $"{path}.name", "source", source.Name, sources[source.Name].Location);
            }
        }

        var views = new Dictionary<string, FeatureViewDefinition>(StringComparer.Ordinal);
        foreach (var raw in context.Views)
        {
            if (ResolveView(context, raw, entities, sources) is not { } view)
            {
                continue;
            }

            if (!views.TryAdd(view.Name, view))
            {
                context.Duplicate(view.Location, $"{raw.Path}.name", "feature view", view.Name, views[view.Name].Location);
            }
        }

        var services = new Dictionary<string, FeatureServiceDefinition>(StringComparer.Ordinal);
        foreach (var raw in context.Services)
        {
            if (ResolveService(context, raw, views) is not { } service)
            {
                continue;
            }

            if (!services.TryAdd(service.Name, service))
            {
                context.Duplicate(service.Location, $"{raw.Path}.name", "feature service", service.Name, services[service.Name].Location);
            }
        }

        return new DefinitionSet(entities, sources, views, services);
    }

    private static FeatureViewDefinition? ResolveView(
        LoadContext context,
        RawView raw,
        Dictionary<string, EntityTypeDefinition> entities,
        Dictionary<string, SourceDefinition> sources)
    {
        var ok = true;
        if (!entities.TryGetValue(raw.Entity, out var entity))
        {
            context.Errors.Add(new DefinitionError(raw.File, raw.Location.Line, raw.Location.Column, $"{raw.Path}.entity",
                $"entity type '{raw.Entity}' is not defined (defined: {List(entities.Keys)})"));
            ok = false;
        }

        if (!sources.TryGetValue(raw.Source, out var source))
        {
            context.Errors.Add(new DefinitionError(raw.File, raw.SourceLocation.Line, raw.SourceLocation.Column, $"{raw.Path}.source",
                $"source '{raw.Source}' is not defined (defined: {List(sources.Keys)})"));
            context.BrokenViews.Add(raw.Name);
            context.PartialViews.TryAdd(raw.Name, new PartialView([.. raw.Features.Select(f => f.Name)], [], entity?.Name));
            return null;
        }

        var keyField = raw.KeyField ?? entity?.KeyField ?? "";
        if (entity is not null && !source.Fields.ContainsKey(keyField))
        {
            var at = raw.KeyField is null ? raw.SourceLocation : raw.KeyFieldLocation;
            context.Errors.Add(new DefinitionError(raw.File, at.Line, at.Column, $"{raw.Path}.{(raw.KeyField is null ? "source" : "key_field")}",
                $"key field '{keyField}' of entity type '{raw.Entity}' is not a field of source '{source.Name}'"));
            ok = false;
        }

        var features = new List<FeatureDefinition>(raw.Features.Count);
        var names = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
        foreach (var feature in raw.Features)
        {
            if (!names.TryAdd(feature.Name, feature.Location))
            {
                context.Duplicate(feature.Location, $"{feature.Path}.name", $"feature in view '{raw.Name}'", feature.Name, names[feature.Name]);
                ok = false;
                continue;
            }

            if (ResolveFeature(feature, source) is { } resolved)
            {
                features.Add(resolved);
            }
            else
            {
                ok = false;
            }
        }

        if (!ok)
        {
            context.BrokenViews.Add(raw.Name);
            context.PartialViews.TryAdd(raw.Name, new PartialView(
                [.. raw.Features.Select(f => f.Name)], features.ToDictionary(f => f.Name, StringComparer.Ordinal), entity?.Name));
        }

        return ok && entity is not null
            ? new FeatureViewDefinition(raw.Name, raw.Version, entity.Name, source, keyField, raw.Ttl, raw.Lateness, features, raw.Location)
            : null;
    }

    private static FeatureDefinition? ResolveFeature(RawFeature raw, SourceDefinition source)
    {
        var section = raw.Section;
        var before = section.Context.Errors.Count;
        ScalarKind type;
        var elementType = ScalarKind.Null;
        if (raw.Aggregation == AggregationKind.Count)
        {
            type = ScalarKind.Int64;
        }
        else if (raw.Field is not { } field || !source.Fields.TryGetValue(field, out var fieldType))
        {
            section.ErrorAt(raw.Aggregation == AggregationKind.Latest && section.Has("latest") ? "latest" : "field",
                $"field '{raw.Field}' is not a field of source '{source.Name}' (fields: {List(source.Fields.Keys)})");
            return null;
        }
        else if (raw.Aggregation is AggregationKind.Latest or AggregationKind.First)
        {
            type = fieldType;
        }
        else if (raw.Aggregation == AggregationKind.LastN)
        {
            if (raw.LastN == 0)
            {
                // n was missing or refused (reported where it was read).
                return null;
            }

            // Any field type: the list holds the field's values as they are.
            type = ScalarKind.List;
            elementType = fieldType;
        }
        else if (raw.Aggregation == AggregationKind.Plugin)
        {
            // What the type serves and reads is checked where its assembly is loaded (FeatureTypeCatalog.Check).
            if (raw.DeclaredType is not { } declaredKind)
            {
                return null;
            }

            type = declaredKind;
        }
        else if (raw.Aggregation == AggregationKind.CountDistinct)
        {
            type = ScalarKind.Int64;
        }
        else if (fieldType is ScalarKind.Int64 or ScalarKind.Double)
        {
            type = ScalarKind.Double;
        }
        else
        {
            section.ErrorAt("field", $"{raw.Aggregation.Word()} needs a numeric field; '{field}' is {EventSchema.KindName(fieldType)}");
            return null;
        }

        if (raw.DeclaredType is { } declared
            && (declared != type || (type == ScalarKind.List && raw.DeclaredTypeText != TypeText(type, elementType))))
        {
            section.ErrorAt("type", $"type {raw.DeclaredTypeText} does not match the computed type {TypeText(type, elementType)}");
        }

        if (raw.Where is { } where)
        {
            CheckFilter(section, where, source);
        }

        return section.Context.Errors.Count > before
            ? null
            : new FeatureDefinition(raw.Name, type, raw.Aggregation, raw.Field, raw.Window, raw.Window is { } w ? raw.Tile ?? TileRule.DefaultTileFor(w) : null, raw.Where, raw.Location, raw.FeatureType)
            {
                LastN = raw.LastN,
                ElementType = elementType,
            };
    }

    /// <summary>A feature's type as definitions write it: int64, …, or list&lt;string&gt; for a last_n.</summary>
    public static string TypeText(ScalarKind type, ScalarKind elementType) =>
        type == ScalarKind.List ? $"list<{EventSchema.KindName(elementType)}>" : EventSchema.KindName(type);

    private static void CheckFilter(Section section, FilterExpression filter, SourceDefinition source)
    {
        switch (filter)
        {
            case ComparisonFilter comparison:
                CheckOperand(section, comparison.Field, comparison.Literal, source, comparison.Operator);
                break;
            case InFilter inFilter:
                foreach (var value in inFilter.Values)
                {
                    CheckOperand(section, inFilter.Field, value, source, "in");
                }

                break;
            case AndFilter and:
                CheckFilter(section, and.Left, source);
                CheckFilter(section, and.Right, source);
                break;
            case OrFilter or:
                CheckFilter(section, or.Left, source);
                CheckFilter(section, or.Right, source);
                break;
            case NotFilter not:
                CheckFilter(section, not.Inner, source);
                break;
        }
    }

    private static void CheckOperand(Section section, string field, ScalarValue literal, SourceDefinition source, string op)
    {
        if (!source.Fields.TryGetValue(field, out var kind))
        {
            section.ErrorAt("where", $"filter reads field '{field}', which source '{source.Name}' does not have (fields: {List(source.Fields.Keys)})");
            return;
        }

        var numericField = kind is ScalarKind.Int64 or ScalarKind.Double;
        var numericLiteral = literal.Kind is ScalarKind.Int64 or ScalarKind.Double;
        if (numericField != numericLiteral || (!numericField && kind != literal.Kind))
        {
            section.ErrorAt("where", $"filter compares {EventSchema.KindName(kind)} field '{field}' with {EventSchema.KindName(literal.Kind)} {FilterText.Literal(literal)}");
        }
        else if (kind == ScalarKind.Bool && op is not ("==" or "!=" or "in"))
        {
            section.ErrorAt("where", $"bool field '{field}' supports only == and !=");
        }
    }

    private static FeatureServiceDefinition? ResolveService(LoadContext context, RawService raw, Dictionary<string, FeatureViewDefinition> views)
    {
        var ok = true;
        var resolved = new List<(string Name, FeatureReference? Feature, string? EntityType, ScalarKind Type)>(raw.Columns.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);

        // The item type of each list column (a last_n feature).
        var elementTypes = new Dictionary<string, ScalarKind>(StringComparer.Ordinal);
        foreach (var column in raw.Columns)
        {
            if (!names.Add(column.Name))
            {
                context.Error(raw.File, column.Mark, column.Path, $"'{column.Name}' is listed twice");
                ok = false;
                continue;
            }

            if (column.Derived is not null)
            {
                // Typed below, once the columns it reads are.
                resolved.Add((column.Name, null, null, ScalarKind.Null));
                continue;
            }

            if (column.Feature is not { } reference)
            {
                resolved.Add((column.Name, null, null, raw.RequestFields[column.Name]));
                continue;
            }

            if (context.BrokenViews.Contains(reference.View))
            {
                // A view with errors of its own: a service's references to it are still checked as far as the view
                // resolved, so one validation reports the service's errors with the view's, not after they are fixed.
                ok = false;
                if (!context.IncompletelyReadViews.Contains(reference.View) && context.PartialViews.TryGetValue(reference.View, out var partial))
                {
                    if (!partial.Declared.Contains(reference.Feature))
                    {
                        context.Error(raw.File, column.Mark, column.Path, $"feature view '{reference.View}' has no feature '{reference.Feature}'");
                    }
                    else if (partial.Resolved.TryGetValue(reference.Feature, out var resolvedFeature) && partial.EntityType is { } entityType)
                    {
                        resolved.Add((column.Name, reference, entityType, resolvedFeature.Type));
                    }
                }

                continue;
            }

            if (!views.TryGetValue(reference.View, out var view))
            {
                context.Error(raw.File, column.Mark, column.Path, $"feature view '{reference.View}' is not defined");
                ok = false;
                continue;
            }

            if (view.FindFeature(reference.Feature) is not { } feature)
            {
                context.Error(raw.File, column.Mark, column.Path, $"feature view '{reference.View}' has no feature '{reference.Feature}'");
                ok = false;
                continue;
            }

            resolved.Add((column.Name, reference, view.EntityType, feature.Type));
            if (feature.Type == ScalarKind.List)
            {
                elementTypes[column.Name] = feature.ElementType;
            }
        }

        var derived = new Dictionary<string, DerivedColumn>(StringComparer.Ordinal);
        foreach (var column in raw.Columns)
        {
            if (column.Derived is not { } expression || !names.Contains(column.Name))
            {
                continue;
            }

            var index = resolved.FindIndex(c => c.Name == column.Name);
            if (CompileDerived(context, raw, column.Name, expression, resolved) is { } compiled)
            {
                derived[column.Name] = compiled;
                resolved[index] = (column.Name, null, null, compiled.Expression.Type);
            }
            else
            {
                ok = false;
            }
        }

        var defaults = new Dictionary<string, ScalarValue>(StringComparer.Ordinal);
        foreach (var (text, node, path) in raw.Defaults)
        {
            if (ColumnNamed(text, node, path, "default") is not { } index)
            {
                continue;
            }

            var name = resolved[index].Name;
            var type = resolved[index].Type;
            if (type == ScalarKind.Null)
            {
                // A derived column whose expression did not check (reported there).
                continue;
            }

            if (type == ScalarKind.List)
            {
                context.Error(raw.File, node.Start, path, $"'{name}' is a last_n list, which takes no default: an empty window serves an empty list");
                ok = false;
            }
            else if (ParseLiteral(node.Value ?? "", type) is { } value)
            {
                defaults[name] = value;
            }
            else
            {
                context.Error(raw.File, node.Start, path, $"default '{node.Value}' is not a {EventSchema.KindName(type)} (the type of '{name}')");
                ok = false;
            }
        }

        var encodings = new Dictionary<string, CategoricalEncoding>(StringComparer.Ordinal);
        foreach (var (text, node, path) in raw.Encodings)
        {
            if (ColumnNamed(text, node, path, "encoding") is not { } index)
            {
                continue;
            }

            var name = resolved[index].Name;

            var listOfStrings = resolved[index].Type == ScalarKind.List && elementTypes.GetValueOrDefault(name) == ScalarKind.String;
            if (resolved[index].Type != ScalarKind.String && !listOfStrings)
            {
                var typeText = TypeText(resolved[index].Type, elementTypes.GetValueOrDefault(name));
                context.Error(raw.File, node.Start, path, $"'{name}' is {typeText}; only string columns take an encoding, and list<string> ones (their newest item); numbers are served as they are, bools as 0/1, other lists as their length");
                ok = false;
                continue;
            }

            if (ReadCategories(context, raw.File, node, path) is { } encoding)
            {
                encodings[name] = encoding;
            }
            else
            {
                ok = false;
            }
        }

        if (resolved.Count == 0 && ok)
        {
            context.Errors.Add(new DefinitionError(raw.File, raw.Location.Line, raw.Location.Column, $"{raw.Path}.features", "a feature service needs at least one feature"));
            ok = false;
        }

        if (!ok)
        {
            return null;
        }

        var columns = new List<ServiceColumn>(resolved.Count);
        foreach (var (name, feature, entityType, type) in resolved)
        {
            columns.Add(new ServiceColumn(
                name, feature, entityType, type, defaults.TryGetValue(name, out var value) ? value : null, encodings.GetValueOrDefault(name), derived.GetValueOrDefault(name))
            {
                ElementType = elementTypes.GetValueOrDefault(name),
            });
        }

        return new FeatureServiceDefinition(raw.Name, columns, raw.Location);

        // The column a defaults or encodings key names; null when it names none (reported) or one of a broken view (reported with the view).
        int? ColumnNamed(string text, YamlNode node, string path, string what)
        {
            var parsed = FeatureReference.TryParse(text, out var reference);
            var index = resolved.FindIndex(c => c.Name == (parsed ? reference.ToString() : text));
            if (index < 0 && !(parsed && context.BrokenViews.Contains(reference.View)))
            {
                context.Error(raw.File, node.Start, path, $"{what} for '{EchoedText.Shorten(text)}', which is not one of this service's features");
            }

            ok &= index >= 0;
            return index < 0 ? null : index;
        }
    }

    /// <summary>
    /// Checks a derived column's expression against the service's other columns: a name is a column as listed
    /// (<c>view:feature</c> or a request field) or a feature's bare name when one listed column has it.
    /// </summary>
    private static DerivedColumn? CompileDerived(
        LoadContext context, RawService raw, string name, RawDerived expression, List<(string Name, FeatureReference? Feature, string? EntityType, ScalarKind Type)> resolved)
    {
        try
        {
            var compiled = CompiledExpression.Compile(expression.Text, Resolve);
            var inputs = new int[compiled.Inputs.Count];
            for (var i = 0; i < inputs.Length; i++)
            {
                inputs[i] = resolved.FindIndex(c => c.Name == compiled.Inputs[i]);
            }

            return new DerivedColumn(compiled, inputs);
        }
        catch (ExpressionException exception)
        {
            context.Error(raw.File, expression.Mark, expression.Path,
                $"{exception.Message} at position {exception.Position + 1} of \"{EchoedText.Shorten(expression.Text)}\"");
            return null;
        }

        (string, ScalarKind) Resolve(string written, int position)
        {
            var column = raw.Columns.Find(c => c.Name == written);
            if (column?.Derived is not null)
            {
                throw new ExpressionException(
                    written == name ? $"derived column '{name}' reads itself" : $"'{written}' is a derived column; a derived column reads features and request fields, not other derived columns",
                    position);
            }

            if (column is null && !written.Contains(':'))
            {
                var matches = raw.Columns.FindAll(c => c.Feature is { } feature && feature.Feature == written);
                if (matches.Count > 1)
                {
                    throw new ExpressionException($"'{EchoedText.Shorten(written)}' is ambiguous: {string.Join(", ", matches.Select(m => m.Name))}; write view:feature", position);
                }

                column = matches.Count == 1 ? matches[0] : null;
            }

            if (column is null)
            {
                throw new ExpressionException(
                    written.Contains(':')
                        ? $"'{EchoedText.Shorten(written)}' is not one of this service's columns; list it in features to read it"
                        : $"unknown name '{EchoedText.Shorten(written)}' (this service's features and request fields: {List(raw.Columns.Where(c => c.Derived is null).Select(c => c.Name))})",
                    position);
            }

            var index = resolved.FindIndex(c => c.Name == column.Name);
            if (index < 0)
            {
                throw new ExpressionException($"'{column.Name}' is a column of a view with errors (reported there)", position);
            }

            return (column.Name, resolved[index].Type);
        }
    }

    /// <summary>Reads <c>{ categories: [a, b, c] }</c>: a non-empty list of distinct strings.</summary>
    private static CategoricalEncoding? ReadCategories(LoadContext context, string file, YamlNode node, string path)
    {
        if (!Section.TryCreate(context, file, node, path, EncodingKeys, out var section))
        {
            return null;
        }

        var categories = new List<string>();
        var ok = true;
        foreach (var (item, itemPath) in section.Sequence("categories", required: true))
        {
            if (item is not YamlScalarNode { Value: { } value })
            {
                context.Error(file, item.Start, itemPath, "a category must be a text value");
                ok = false;
            }
            else if (categories.Contains(value))
            {
                context.Error(file, item.Start, itemPath, $"category '{EchoedText.Shorten(value)}' is listed twice");
                ok = false;
            }
            else
            {
                categories.Add(value);
            }
        }

        if (ok && categories.Count == 0 && section.Has("categories"))
        {
            section.ErrorAt("categories", "categories must list at least one value");
            ok = false;
        }

        return ok && categories.Count > 0 ? new CategoricalEncoding(categories) : null;
    }

    private static ScalarValue? ParseLiteral(string text, ScalarKind type) => type switch
    {
        ScalarKind.Int64 when long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i) => ScalarValue.FromInt64(i),
        ScalarKind.Double when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => ScalarValue.FromDouble(d),
        ScalarKind.Bool when text is "true" or "false" => ScalarValue.FromBool(text == "true"),
        ScalarKind.String => ScalarValue.FromString(text),
        _ => null,
    };

    /// <summary>Parses <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>, <c>7d</c>.</summary>
    public static TimeSpan? ParseDuration(string text)
    {
        var digits = 0;
        while (digits < text.Length && char.IsAsciiDigit(text[digits]))
        {
            digits++;
        }

        if (digits == 0 || !long.TryParse(text.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var amount) || amount > 100_000_000)
        {
            return null;
        }

        return text[digits..] switch
        {
            "ms" => TimeSpan.FromMilliseconds(amount),
            "s" => TimeSpan.FromSeconds(amount),
            "m" => TimeSpan.FromMinutes(amount),
            "h" => TimeSpan.FromHours(amount),
            "d" => TimeSpan.FromDays(amount),
            _ => null,
        };
    }

    private static ScalarKind? ParseType(string text) => text switch
    {
        "int64" => ScalarKind.Int64,
        "double" => ScalarKind.Double,
        "string" => ScalarKind.String,
        "bool" => ScalarKind.Bool,
        _ => null,
    };

    private static bool IsName(LoadContext context, string file, SourceLocation at, string path, string name)
    {
        if (name.Length > DefinitionLimits.MaxNameLength)
        {
            context.Errors.Add(new DefinitionError(file, at.Line, at.Column, path,
                $"name '{EchoedText.Shorten(name)}' is {name.Length} characters; the limit is {DefinitionLimits.MaxNameLength}"));
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            {
                context.Errors.Add(new DefinitionError(file, at.Line, at.Column, path, $"name '{EchoedText.Shorten(name)}' may contain only letters, digits, '_', '-' and '.'"));
                return false;
            }
        }

        return name.Length > 0;
    }

    private static string List(IEnumerable<string> names)
    {
        var sorted = names.Order(StringComparer.Ordinal).ToList();
        return sorted.Count == 0 ? "none" : string.Join(", ", sorted);
    }

    private sealed record Located<T>(T Value, string Path)
    {
        public void Deconstruct(out T value, out string path)
        {
            value = Value;
            path = Path;
        }
    }

    private sealed record RawFeature(
        string Path, string Name, AggregationKind Aggregation, string? Field, TimeSpan? Window, TimeSpan? Tile,
        FilterExpression? Where, ScalarKind? DeclaredType, SourceLocation Location, Section Section, string? FeatureType = null)
    {
        /// <summary>last_n's n (0 for other aggregations, or when it was refused).</summary>
        public int LastN { get; init; }

        public string? DeclaredTypeText { get; init; }
    }

    private sealed record PartialView(HashSet<string> Declared, Dictionary<string, FeatureDefinition> Resolved, string? EntityType);

    private sealed record RawView(
        string File, string Path, string Name, int Version, string Entity, string Source, string? KeyField, TimeSpan? Ttl,
        TimeSpan Lateness, List<RawFeature> Features, SourceLocation Location, SourceLocation SourceLocation, SourceLocation KeyFieldLocation);

    private sealed record RawService(
        string File, string Path, string Name, List<RawColumn> Columns, Dictionary<string, ScalarKind> RequestFields,
        List<(string Text, YamlScalarNode Value, string Path)> Defaults, List<(string Column, YamlNode Value, string Path)> Encodings,
        SourceLocation Location);

    /// <summary>A service column as written: a feature reference, a derived column, or (neither) a request field.</summary>
    private sealed record RawColumn(string Name, FeatureReference? Feature, Mark Mark, string Path, RawDerived? Derived = null);

    /// <summary>A derived column's expression as written, where it is, and where its name is.</summary>
    private sealed record RawDerived(string Text, Mark Mark, Mark NameMark, string Path);

    private sealed class LoadContext
    {
        public List<DefinitionError> Errors { get; } = [];

        public List<Located<EntityTypeDefinition>> Entities { get; } = [];

        public List<Located<SourceDefinition>> Sources { get; } = [];

        public List<RawView> Views { get; } = [];

        public List<RawService> Services { get; } = [];

        public HashSet<string> BrokenViews { get; } = new(StringComparer.Ordinal);

        /// <summary>Broken views whose features were not all read (a reference to a missing one may be a read error).</summary>
        public HashSet<string> IncompletelyReadViews { get; } = new(StringComparer.Ordinal);

        /// <summary>What a broken view declared and what of it resolved, to check services' references against.</summary>
        public Dictionary<string, PartialView> PartialViews { get; } = new(StringComparer.Ordinal);

        public void Error(string file, Mark mark, string path, string message) =>
            Errors.Add(new DefinitionError(file, (int)mark.Line, (int)mark.Column, path, message));

        public void Duplicate(SourceLocation at, string path, string what, string name, SourceLocation first) =>
            Errors.Add(new DefinitionError(at.File, at.Line, at.Column, path, $"duplicate {what} '{name}' (first defined at {first})"));
    }

    /// <summary>Reads one YAML mapping, reporting unknown keys, missing required keys and values of the wrong shape.</summary>
    private sealed class Section
    {
        private readonly string _file;
        private readonly YamlMappingNode _node;
        private readonly string _path;
        private readonly Dictionary<string, (YamlNode Key, YamlNode Value)> _entries = new(StringComparer.Ordinal);

        public Section(LoadContext context, string file, YamlMappingNode node, string path, string[] allowed)
        {
            Context = context;
            _file = file;
            _node = node;
            _path = path;
            foreach (var (key, value) in node.Children)
            {
                var name = (key as YamlScalarNode)?.Value ?? "";
                if (Array.IndexOf(allowed, name) < 0)
                {
                    var shown = EchoedText.Shorten(name);
                    context.Error(file, key.Start, Join(shown), $"unknown key '{shown}' (expected one of {string.Join(", ", allowed)})");
                    continue;
                }

                _entries[name] = (key, value);
            }
        }

        public LoadContext Context { get; }

        public static bool TryCreate(LoadContext context, string file, YamlNode node, string path, string[] allowed, out Section section)
        {
            if (node is YamlMappingNode mapping)
            {
                section = new Section(context, file, mapping, path, allowed);
                return true;
            }

            context.Error(file, node.Start, path, "expected a mapping");
            section = null!;
            return false;
        }

        public bool Has(string key) => _entries.ContainsKey(key);

        public SourceLocation Location(string key)
        {
            var mark = _entries.TryGetValue(key, out var entry) ? entry.Value.Start : _node.Start;
            return new SourceLocation(_file, (int)mark.Line, (int)mark.Column);
        }

        public string? String(string key, bool required = false)
        {
            if (!_entries.TryGetValue(key, out var entry))
            {
                if (required)
                {
                    ErrorHere(key, $"'{key}' is required");
                }

                return null;
            }

            if (entry.Value is YamlScalarNode { Value: { Length: > 0 } value })
            {
                return value;
            }

            ErrorAt(key, $"'{key}' must be a non-empty text value");
            return null;
        }

        public int? Integer(string key)
        {
            if (String(key) is not { } text)
            {
                return null;
            }

            if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                return value;
            }

            ErrorAt(key, $"'{text}' is not a whole number");
            return null;
        }

        public TimeSpan? Duration(string key, bool allowZero = false)
        {
            if (String(key) is not { } text)
            {
                return null;
            }

            if (ParseDuration(text) is { } duration && (allowZero || duration > TimeSpan.Zero))
            {
                return duration;
            }

            ErrorAt(key, $"bad duration '{text}' (expected a {(allowZero ? "" : "positive ")}whole number with a unit: ms, s, m, h or d, as in 90s, 5m, 24h, 7d)");
            return null;
        }

        public YamlMappingNode? Mapping(string key, bool required = false)
        {
            if (!_entries.TryGetValue(key, out var entry))
            {
                if (required)
                {
                    ErrorHere(key, $"'{key}' is required");
                }

                return null;
            }

            if (entry.Value is YamlMappingNode mapping)
            {
                return mapping;
            }

            ErrorAt(key, $"'{key}' must be a mapping");
            return null;
        }

        public IEnumerable<(YamlNode Node, string Path)> Sequence(string key, bool required = false)
        {
            if (!_entries.TryGetValue(key, out var entry))
            {
                if (required)
                {
                    ErrorHere(key, $"'{key}' is required");
                }

                yield break;
            }

            if (entry.Value is not YamlSequenceNode sequence)
            {
                ErrorAt(key, $"'{key}' must be a list");
                yield break;
            }

            for (var i = 0; i < sequence.Children.Count; i++)
            {
                yield return (sequence.Children[i], $"{Join(key)}[{i}]");
            }
        }

        /// <summary>An error about the value of <paramref name="key"/>, located at that value.</summary>
        public void ErrorAt(string key, string message)
        {
            var mark = _entries.TryGetValue(key, out var entry) ? entry.Value.Start : _node.Start;
            Context.Error(_file, mark, Join(key), message);
        }

        /// <summary>An error about a missing <paramref name="key"/>, located at the mapping that lacks it.</summary>
        public void ErrorHere(string key, string message) => Context.Error(_file, _node.Start, Join(key), message);

        private string Join(string key) => _path.Length == 0 ? key : $"{_path}.{key}";
    }
}
