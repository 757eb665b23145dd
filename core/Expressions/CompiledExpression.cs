using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Expressions;

/// <summary>
/// A derived column's expression, parsed and checked once per registry version: its type, the columns it reads
/// (<see cref="Inputs"/>, in order of first use), and the typed tree that evaluates a row.
/// </summary>
public sealed class CompiledExpression
{
    private readonly TypedExpression _root;

    internal CompiledExpression(string text, TypedExpression root, IReadOnlyList<string> inputs)
    {
        Text = text;
        _root = root;
        Inputs = inputs;
    }

    public string Text { get; }

    public ScalarKind Type => _root.Type;

    /// <summary>The names (as the resolver gave them) of the columns read; <see cref="Evaluate"/> takes their values in this order.</summary>
    public IReadOnlyList<string> Inputs { get; }

    /// <summary>
    /// Parses and checks <paramref name="text"/>, resolving each name with <paramref name="resolve"/>. Throws an
    /// <see cref="ExpressionException"/> naming the first problem and its position.
    /// </summary>
    public static CompiledExpression Compile(string text, NameResolver resolve) => ExpressionChecker.Check(text, ExpressionParser.Parse(text), resolve);

    /// <summary>The value of one row, given its inputs' values in <see cref="Inputs"/> order.</summary>
    public ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs)
    {
        if (inputs.Length != Inputs.Count)
        {
            throw new ArgumentException($"the expression reads {Inputs.Count} inputs; {inputs.Length} were given", nameof(inputs));
        }

        return _root.Evaluate(inputs);
    }

    public override string ToString() => Text;
}

/// <summary>
/// Resolves a name written in an expression to the column it reads (a canonical name, so two spellings of one column
/// are one input) and its type; throws an <see cref="ExpressionException"/> at <paramref name="position"/> when the
/// name does not resolve.
/// </summary>
public delegate (string Name, ScalarKind Type) NameResolver(string name, int position);
