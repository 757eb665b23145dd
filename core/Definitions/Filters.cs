using System.Globalization;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Definitions;

/// <summary><c>field op literal</c>.</summary>
public sealed class ComparisonFilter(string field, string op, ScalarValue literal) : FilterExpression
{
    public string Field { get; } = field;

    public string Operator { get; } = op;

    public ScalarValue Literal { get; } = literal;

    public override bool Evaluate(IReadOnlyDictionary<string, ScalarValue> fields)
    {
        if (!fields.TryGetValue(Field, out var value))
        {
            return false;
        }

        int order;
        if (value.TryGetNumber(out var left) && Literal.TryGetNumber(out var right))
        {
            order = left.CompareTo(right);
        }
        else if (value.Kind == ScalarKind.String && Literal.Kind == ScalarKind.String)
        {
            order = string.CompareOrdinal(value.AsString, Literal.AsString);
        }
        else if (value.Kind == ScalarKind.Bool && Literal.Kind == ScalarKind.Bool)
        {
            order = value.AsBool.CompareTo(Literal.AsBool);
        }
        else
        {
            return false;
        }

        return Operator switch
        {
            "==" => order == 0,
            "!=" => order != 0,
            "<" => order < 0,
            "<=" => order <= 0,
            ">" => order > 0,
            _ => order >= 0,
        };
    }

    public override void CollectFields(ISet<string> fields) => fields.Add(Field);

    public override string ToString() => $"{Field} {Operator} {FilterText.Literal(Literal)}";
}

/// <summary><c>field in (a, b, …)</c>.</summary>
public sealed class InFilter(string field, IReadOnlyList<ScalarValue> values) : FilterExpression
{
    public string Field { get; } = field;

    public IReadOnlyList<ScalarValue> Values { get; } = values;

    public override bool Evaluate(IReadOnlyDictionary<string, ScalarValue> fields)
    {
        if (!fields.TryGetValue(Field, out var value))
        {
            return false;
        }

        foreach (var candidate in Values)
        {
            if (candidate == value || (value.TryGetNumber(out var a) && candidate.TryGetNumber(out var b) && a == b))
            {
                return true;
            }
        }

        return false;
    }

    public override void CollectFields(ISet<string> fields) => fields.Add(Field);

    public override string ToString() => $"{Field} in ({string.Join(", ", Values.Select(FilterText.Literal))})";
}

public sealed class AndFilter(FilterExpression left, FilterExpression right) : FilterExpression
{
    public FilterExpression Left { get; } = left;

    public FilterExpression Right { get; } = right;

    public override bool Evaluate(IReadOnlyDictionary<string, ScalarValue> fields) => Left.Evaluate(fields) && Right.Evaluate(fields);

    public override void CollectFields(ISet<string> fields)
    {
        Left.CollectFields(fields);
        Right.CollectFields(fields);
    }

    public override string ToString() => $"({Left} and {Right})";
}

public sealed class OrFilter(FilterExpression left, FilterExpression right) : FilterExpression
{
    public FilterExpression Left { get; } = left;

    public FilterExpression Right { get; } = right;

    public override bool Evaluate(IReadOnlyDictionary<string, ScalarValue> fields) => Left.Evaluate(fields) || Right.Evaluate(fields);

    public override void CollectFields(ISet<string> fields)
    {
        Left.CollectFields(fields);
        Right.CollectFields(fields);
    }

    public override string ToString() => $"({Left} or {Right})";
}

public sealed class NotFilter(FilterExpression inner) : FilterExpression
{
    public FilterExpression Inner { get; } = inner;

    public override bool Evaluate(IReadOnlyDictionary<string, ScalarValue> fields) => !Inner.Evaluate(fields);

    public override void CollectFields(ISet<string> fields) => Inner.CollectFields(fields);

    public override string ToString() => $"not {Inner}";
}

internal static class FilterText
{
    public static string Literal(ScalarValue value) => value.Kind switch
    {
        ScalarKind.String => $"'{value.AsString.Replace("'", "''", StringComparison.Ordinal)}'",
        ScalarKind.Double => value.AsDouble.ToString("R", CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}
