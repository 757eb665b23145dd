using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Serving;

/// <summary>
/// How one feature service becomes a model's input matrix: which features to read of each entity type, where each
/// column's value comes from, and how it becomes a float. Compiled once per service and registry version.
/// </summary>
public sealed class InferencePlan
{
    private InferencePlan(
        FeatureServiceDefinition service, InferenceColumn[] columns, InferenceEntitySlot[] entities, InferenceRequestField[] requestFields, InferenceDerivedColumn[] derived, string? unservable)
    {
        Service = service;
        Columns = columns;
        Entities = entities;
        RequestFields = requestFields;
        DerivedColumns = derived;
        UnservableReason = unservable;
        foreach (var column in derived)
        {
            MaxDerivedInputs = Math.Max(MaxDerivedInputs, column.InputSlots.Length);
        }
    }

    public FeatureServiceDefinition Service { get; }

    /// <summary>Model input order.</summary>
    public IReadOnlyList<InferenceColumn> Columns { get; }

    /// <summary>One per entity type the service reads, in order of first use.</summary>
    public IReadOnlyList<InferenceEntitySlot> Entities { get; }

    public IReadOnlyList<InferenceRequestField> RequestFields { get; }

    /// <summary>The derived columns, each with where its inputs are read; evaluated after the other columns are filled.</summary>
    public IReadOnlyList<InferenceDerivedColumn> DerivedColumns { get; }

    /// <summary>The most inputs one derived column reads.</summary>
    public int MaxDerivedInputs { get; }

    /// <summary>Why the service cannot be served as numbers (a string column without an encoding); null when it can.</summary>
    public string? UnservableReason { get; }

    public static InferencePlan Compile(FeatureServiceDefinition service)
    {
        var columns = new InferenceColumn[service.Columns.Count];
        var slotFeatures = new List<List<(FeatureReference Feature, int Column)>>();
        var requestFields = new List<InferenceRequestField>();
        string? unservable = null;
        for (var c = 0; c < columns.Length; c++)
        {
            var definition = service.Columns[c];
            var encoding = definition.Type switch
            {
                ScalarKind.Bool => ColumnEncoding.Bool,
                ScalarKind.String when definition.Encoding is not null => ColumnEncoding.Categorical,
                ScalarKind.String => ColumnEncoding.None,
                ScalarKind.List when definition.Encoding is not null => ColumnEncoding.Categorical,
                ScalarKind.List => ColumnEncoding.Length,
                _ => ColumnEncoding.Number,
            };
            if (encoding == ColumnEncoding.None)
            {
                unservable ??= $"column '{definition.Name}' is a string and feature service '{service.Name}' declares no encoding for it";
            }

            var slot = -1;
            if (definition.Derived is not null)
            {
                // Bound to its inputs' places below, once the slots are laid out.
            }
            else if (definition.Feature is { } feature)
            {
                slot = IndexOfEntityType(service, definition.EntityType!);
                while (slotFeatures.Count <= slot)
                {
                    slotFeatures.Add([]);
                }

                slotFeatures[slot].Add((feature, c));
            }
            else
            {
                requestFields.Add(new InferenceRequestField(definition.Name, definition.Type, c));
            }

            columns[c] = new InferenceColumn(definition, encoding, slot);
        }

        var entities = new InferenceEntitySlot[service.EntityTypes.Count];
        for (var s = 0; s < entities.Length; s++)
        {
            var features = slotFeatures[s];
            var references = new FeatureReference[features.Count];
            var columnIndexes = new int[features.Count];
            for (var i = 0; i < features.Count; i++)
            {
                references[i] = features[i].Feature;
                columnIndexes[i] = features[i].Column;
            }

            entities[s] = new InferenceEntitySlot(service.EntityTypes[s], references, columnIndexes);
        }

        var derived = new List<InferenceDerivedColumn>();
        for (var c = 0; c < columns.Length; c++)
        {
            if (service.Columns[c].Derived is not { } expression)
            {
                continue;
            }

            var inputs = expression.InputColumns;
            var inputSlots = new int[inputs.Count];
            var inputIndexes = new int[inputs.Count];
            var inputDefaults = new ScalarValue?[inputs.Count];
            for (var i = 0; i < inputs.Count; i++)
            {
                var input = inputs[i];
                inputDefaults[i] = service.Columns[input].Default;
                inputSlots[i] = columns[input].EntitySlot;
                inputIndexes[i] = inputSlots[i] >= 0
                    ? Array.IndexOf(entities[inputSlots[i]].Columns, input)
                    : requestFields.FindIndex(f => f.Column == input);
            }

            derived.Add(new InferenceDerivedColumn(c, expression, inputSlots, inputIndexes, inputDefaults));
        }

        return new InferencePlan(service, columns, entities, [.. requestFields], [.. derived], unservable);
    }

    /// <summary>The slot of <paramref name="entityType"/>, or -1 when the service reads none of its features.</summary>
    public int SlotOf(string entityType)
    {
        for (var s = 0; s < Entities.Count; s++)
        {
            if (string.Equals(Entities[s].EntityType, entityType, StringComparison.Ordinal))
            {
                return s;
            }
        }

        return -1;
    }

    /// <summary>The index of request field <paramref name="name"/> in <see cref="RequestFields"/>, or -1.</summary>
    public int RequestFieldIndex(string name)
    {
        for (var r = 0; r < RequestFields.Count; r++)
        {
            if (string.Equals(RequestFields[r].Name, name, StringComparison.Ordinal))
            {
                return r;
            }
        }

        return -1;
    }

    private static int IndexOfEntityType(FeatureServiceDefinition service, string entityType)
    {
        for (var s = 0; s < service.EntityTypes.Count; s++)
        {
            if (string.Equals(service.EntityTypes[s], entityType, StringComparison.Ordinal))
            {
                return s;
            }
        }

        throw new InvalidOperationException($"entity type '{entityType}' is not among the service's entity types");
    }
}

/// <summary>How a column's value becomes a float32.</summary>
public enum ColumnEncoding
{
    /// <summary>A string column with no encoding: not servable as a number.</summary>
    None,

    /// <summary>int64 or double, converted to float32 (int64 beyond ±2^24 loses precision).</summary>
    Number,

    /// <summary>false → 0, true → 1.</summary>
    Bool,

    /// <summary>
    /// The index of the value in the declared categories; an unlisted value gets the category count. For a list of
    /// strings (last_n with an encoding): the index of its newest item; an empty list gets the category count too.
    /// </summary>
    Categorical,

    /// <summary>A list (last_n without an encoding): its number of items.</summary>
    Length,
}

/// <summary>One column of the matrix: its definition, encoding, encoded default and source.</summary>
public sealed class InferenceColumn
{
    internal InferenceColumn(ServiceColumn definition, ColumnEncoding encoding, int entitySlot)
    {
        Definition = definition;
        Encoding = encoding;
        EntitySlot = entitySlot;
        DefaultValue = definition.Default is { } value ? Encode(value) : float.NaN;
    }

    public ServiceColumn Definition { get; }

    public string Name => Definition.Name;

    public ColumnEncoding Encoding { get; }

    /// <summary>The entity slot the column's feature belongs to; -1 for a request field or a derived column.</summary>
    public int EntitySlot { get; }

    public bool HasDefault => Definition.Default is not null;

    /// <summary>The encoded default; NaN when the column has none.</summary>
    public float DefaultValue { get; }

    /// <summary>The value as the model sees it; NaN for a null or a value of another kind.</summary>
    public float Encode(ScalarValue value) => value.Kind switch
    {
        ScalarKind.Int64 when Encoding == ColumnEncoding.Number => value.AsInt64,
        ScalarKind.Double when Encoding == ColumnEncoding.Number => (float)value.AsDouble,
        ScalarKind.Bool when Encoding == ColumnEncoding.Bool => value.AsBool ? 1f : 0f,
        ScalarKind.String when Encoding == ColumnEncoding.Categorical => Definition.Encoding!.IndexOf(value.AsString),
        ScalarKind.List when Encoding == ColumnEncoding.Length => value.ListItems.Length,
        ScalarKind.List when Encoding == ColumnEncoding.Categorical => value.ListItems is [{ Kind: ScalarKind.String } newest, ..]
            ? Definition.Encoding!.IndexOf(newest.AsString)
            : Definition.Encoding!.Categories.Count,
        _ => float.NaN,
    };
}

/// <summary>The features one entity type contributes: what to read of each entity, and the column each fills.</summary>
public sealed record InferenceEntitySlot(string EntityType, FeatureReference[] Features, int[] Columns);

/// <summary>
/// A derived column and where each of its inputs is: <see cref="InputSlots"/>[i] the entity slot and
/// <see cref="InputIndexes"/>[i] the feature's index in it, or slot -1 and the index of a request field.
/// </summary>
public sealed record InferenceDerivedColumn(int Column, DerivedColumn Derived, int[] InputSlots, int[] InputIndexes, ScalarValue?[] InputDefaults);

/// <summary>A request field and the column it fills.</summary>
public sealed record InferenceRequestField(string Name, ScalarKind Type, int Column);
