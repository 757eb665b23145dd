using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Expressions;

/// <summary>
/// A derived column's expression as written, before names and types are checked. <see cref="Position"/> is the
/// 0-based offset in the text of the token the node starts at, for error messages.
/// </summary>
public abstract record ExpressionSyntax(int Position);

/// <summary>An int64, double or bool literal.</summary>
public sealed record LiteralSyntax(ScalarValue Value, int Position) : ExpressionSyntax(Position);

/// <summary>A column of the feature service: <c>view:feature</c>, a feature's bare name, or a request field.</summary>
public sealed record NameSyntax(string Name, int Position) : ExpressionSyntax(Position);

/// <summary><c>-x</c> or <c>not x</c>.</summary>
public sealed record UnarySyntax(string Operator, ExpressionSyntax Operand, int Position) : ExpressionSyntax(Position);

/// <summary>Arithmetic (<c>+ - * /</c>), a comparison (<c>== != &lt; &lt;= &gt; &gt;=</c>), <c>and</c> or <c>or</c>.</summary>
public sealed record BinarySyntax(string Operator, ExpressionSyntax Left, ExpressionSyntax Right, int Position) : ExpressionSyntax(Position);

/// <summary>A function call: <c>min</c>, <c>max</c>, <c>abs</c>, <c>coalesce</c>, <c>if</c>.</summary>
public sealed record CallSyntax(string Function, IReadOnlyList<ExpressionSyntax> Arguments, int Position) : ExpressionSyntax(Position);

/// <summary>An expression that does not parse or check, with the 0-based position in its text it is about.</summary>
public sealed class ExpressionException(string message, int position) : Exception(message)
{
    public int Position { get; } = position;
}
