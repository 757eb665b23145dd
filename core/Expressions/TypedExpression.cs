using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Expressions;

/// <summary>
/// A checked expression node: its type is known and its names are input indexes. Evaluating walks the tree with
/// values on the stack and allocates nothing; the tree is immutable and shared by every request of its registry
/// version. Rules (<c>core/Definitions/README.md</c>, "Derived columns"): a missing operand makes the result missing
/// except in <c>coalesce</c> and the branch <c>if</c> does not take; division by zero, int64 overflow and a
/// non-finite result are missing.
/// </summary>
public abstract class TypedExpression(ScalarKind type)
{
    public ScalarKind Type { get; } = type;

    public abstract ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs);
}

internal sealed class InputExpression(int index, ScalarKind type) : TypedExpression(type)
{
    public override ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs) => inputs[index];
}

internal sealed class ConstantExpression(ExpressionValue value) : TypedExpression(value.Kind)
{
    public override ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs) => value;
}

internal sealed class NegateExpression(TypedExpression operand) : TypedExpression(operand.Type)
{
    public override ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs)
    {
        var value = operand.Evaluate(inputs);
        return value.IsMissing ? value
            : Type == ScalarKind.Double ? ExpressionValue.FromDouble(-value.AsDouble)
            : value.AsInt64 == long.MinValue ? ExpressionValue.NotFound
            : ExpressionValue.FromInt64(-value.AsInt64);
    }
}

internal sealed class NotExpression(TypedExpression operand) : TypedExpression(ScalarKind.Bool)
{
    public override ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs)
    {
        var value = operand.Evaluate(inputs);
        return value.IsMissing ? value : ExpressionValue.FromBool(!value.AsBool);
    }
}

/// <summary><c>+ - *</c>: int64 when both operands are, with overflow missing; double otherwise.</summary>
internal sealed class ArithmeticExpression(char op, TypedExpression left, TypedExpression right, ScalarKind type) : TypedExpression(type)
{
    public override ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs)
    {
        var a = left.Evaluate(inputs);
        if (a.IsMissing)
        {
            return a;
        }

        var b = right.Evaluate(inputs);
        if (b.IsMissing)
        {
            return b;
        }

        if (Type == ScalarKind.Double)
        {
            return ExpressionValue.FromDouble(op switch
            {
                '+' => a.AsDouble + b.AsDouble,
                '-' => a.AsDouble - b.AsDouble,
                _ => a.AsDouble * b.AsDouble,
            });
        }

        long x = a.AsInt64, y = b.AsInt64, result;
        switch (op)
        {
            case '+':
                result = unchecked(x + y);
                return ((x ^ result) & (y ^ result)) < 0 ? ExpressionValue.NotFound : ExpressionValue.FromInt64(result);
            case '-':
                result = unchecked(x - y);
                return ((x ^ y) & (x ^ result)) < 0 ? ExpressionValue.NotFound : ExpressionValue.FromInt64(result);
            default:
                var high = Math.BigMul(x, y, out result);
                return high != (result >> 63) ? ExpressionValue.NotFound : ExpressionValue.FromInt64(result);
        }
    }
}

/// <summary><c>/</c>: always a double; a zero divisor makes the result missing.</summary>
internal sealed class DivideExpression(TypedExpression left, TypedExpression right) : TypedExpression(ScalarKind.Double)
{
    public override ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs)
    {
        var a = left.Evaluate(inputs);
        if (a.IsMissing)
        {
            return a;
        }

        var b = right.Evaluate(inputs);
        if (b.IsMissing)
        {
            return b;
        }

        var divisor = b.AsDouble;
        return divisor == 0 ? ExpressionValue.NotFound : ExpressionValue.FromDouble(a.AsDouble / divisor);
    }
}

/// <summary>A comparison of two numbers (int64 with int64 exactly, otherwise as doubles) or two bools.</summary>
internal sealed class CompareExpression(string op, TypedExpression left, TypedExpression right) : TypedExpression(ScalarKind.Bool)
{
    private readonly bool _exact = left.Type != ScalarKind.Double && right.Type != ScalarKind.Double;

    public override ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs)
    {
        var a = left.Evaluate(inputs);
        if (a.IsMissing)
        {
            return a;
        }

        var b = right.Evaluate(inputs);
        if (b.IsMissing)
        {
            return b;
        }

        var order = _exact ? a.Bits.CompareTo(b.Bits) : a.AsDouble.CompareTo(b.AsDouble);
        return ExpressionValue.FromBool(op switch
        {
            "==" => order == 0,
            "!=" => order != 0,
            "<" => order < 0,
            "<=" => order <= 0,
            ">" => order > 0,
            _ => order >= 0,
        });
    }
}

/// <summary><c>and</c> / <c>or</c>: strict like every operator, so a missing operand makes the result missing.</summary>
internal sealed class LogicExpression(bool isAnd, TypedExpression left, TypedExpression right) : TypedExpression(ScalarKind.Bool)
{
    public override ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs)
    {
        var a = left.Evaluate(inputs);
        if (a.IsMissing)
        {
            return a;
        }

        var b = right.Evaluate(inputs);
        return b.IsMissing ? b : ExpressionValue.FromBool(isAnd ? a.AsBool && b.AsBool : a.AsBool || b.AsBool);
    }
}

internal sealed class MinMaxExpression(bool isMax, TypedExpression[] arguments, ScalarKind type) : TypedExpression(type)
{
    public override ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs)
    {
        var best = arguments[0].Evaluate(inputs).As(Type);
        if (best.IsMissing)
        {
            return best;
        }

        for (var i = 1; i < arguments.Length; i++)
        {
            var value = arguments[i].Evaluate(inputs).As(Type);
            if (value.IsMissing)
            {
                return value;
            }

            var order = Type == ScalarKind.Int64 ? value.Bits.CompareTo(best.Bits) : value.AsDouble.CompareTo(best.AsDouble);
            if (isMax ? order > 0 : order < 0)
            {
                best = value;
            }
        }

        return best with { EventTimeMs = 0 };
    }
}

internal sealed class AbsExpression(TypedExpression operand) : TypedExpression(operand.Type)
{
    public override ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs)
    {
        var value = operand.Evaluate(inputs);
        return value.IsMissing ? value
            : Type == ScalarKind.Double ? ExpressionValue.FromDouble(Math.Abs(value.AsDouble))
            : value.AsInt64 == long.MinValue ? ExpressionValue.NotFound
            : ExpressionValue.FromInt64(Math.Abs(value.AsInt64));
    }
}

/// <summary>The first argument that is not missing; missing (as the last one is) when all are.</summary>
internal sealed class CoalesceExpression(TypedExpression[] arguments, ScalarKind type) : TypedExpression(type)
{
    public override ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs)
    {
        var value = ExpressionValue.NotFound;
        foreach (var argument in arguments)
        {
            value = argument.Evaluate(inputs).As(Type);
            if (!value.IsMissing)
            {
                return value;
            }
        }

        return value;
    }
}

/// <summary><c>if(condition, then, else)</c>: only the branch taken is evaluated; a missing condition is missing.</summary>
internal sealed class IfExpression(TypedExpression condition, TypedExpression then, TypedExpression otherwise, ScalarKind type) : TypedExpression(type)
{
    public override ExpressionValue Evaluate(ReadOnlySpan<ExpressionValue> inputs)
    {
        var test = condition.Evaluate(inputs);
        return test.IsMissing ? test : (test.AsBool ? then : otherwise).Evaluate(inputs).As(Type);
    }
}
