using System.Globalization;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Expressions;

/// <summary>
/// Checks a parsed expression's names and types and builds its typed tree. Types follow the store's scalars: int64,
/// double and bool (string columns cannot be read). Arithmetic of two int64s is int64, any double makes it double,
/// <c>/</c> is always double; comparisons take two numbers or (<c>==</c>, <c>!=</c>) two bools.
/// </summary>
internal static class ExpressionChecker
{
    private const string Functions = "abs, coalesce, if, max, min";

    public static CompiledExpression Check(string text, ExpressionSyntax syntax, NameResolver resolve)
    {
        var inputs = new List<string>();
        var root = Build(syntax, resolve, inputs);
        if (inputs.Count == 0)
        {
            throw new ExpressionException("the expression reads no column (a constant is not a feature)", 0);
        }

        return new CompiledExpression(text, root, inputs);
    }

    private static TypedExpression Build(ExpressionSyntax syntax, NameResolver resolve, List<string> inputs)
    {
        switch (syntax)
        {
            case LiteralSyntax literal:
                return new ConstantExpression(ExpressionValue.From(literal.Value));
            case NameSyntax name:
            {
                var (canonical, type) = resolve(name.Name, name.Position);
                if (type is not (ScalarKind.Int64 or ScalarKind.Double or ScalarKind.Bool))
                {
                    throw new ExpressionException($"'{EchoedText.Shorten(canonical)}' is {EventSchema.KindName(type)}; expressions read int64, double and bool columns", name.Position);
                }

                var index = inputs.IndexOf(canonical);
                if (index < 0)
                {
                    index = inputs.Count;
                    inputs.Add(canonical);
                }

                return new InputExpression(index, type);
            }

            case UnarySyntax { Operator: "not" } not:
                return new NotExpression(Expect(ScalarKind.Bool, Build(not.Operand, resolve, inputs), "the operand of not", not.Operand));
            case UnarySyntax negate:
                return new NegateExpression(Number(Build(negate.Operand, resolve, inputs), "unary '-'", negate.Operand));
            case BinarySyntax binary:
                return Binary(binary, Build(binary.Left, resolve, inputs), Build(binary.Right, resolve, inputs));
            case CallSyntax call:
                return Call(call, resolve, inputs);
            default:
                throw new ExpressionException("unsupported expression", syntax.Position);
        }
    }

    private static TypedExpression Binary(BinarySyntax binary, TypedExpression left, TypedExpression right)
    {
        var op = binary.Operator;
        switch (op)
        {
            case "and" or "or":
                Expect(ScalarKind.Bool, left, $"the left operand of '{op}'", binary.Left);
                Expect(ScalarKind.Bool, right, $"the right operand of '{op}'", binary.Right);
                return new LogicExpression(op == "and", left, right);
            case "+" or "-" or "*":
                Number(left, $"the left operand of '{op}'", binary.Left);
                Number(right, $"the right operand of '{op}'", binary.Right);
                return new ArithmeticExpression(op[0], left, right, Widest(left.Type, right.Type));
            case "/":
                Number(left, "the left operand of '/'", binary.Left);
                Number(right, "the right operand of '/'", binary.Right);
                if (binary.Right is LiteralSyntax { Value: var divisor } && divisor.TryGetNumber(out var number) && number == 0)
                {
                    throw new ExpressionException("division by the constant 0: every row would be missing", binary.Right.Position);
                }

                return new DivideExpression(left, right);
            default:
                var numbers = IsNumber(left.Type) && IsNumber(right.Type);
                var bools = left.Type == ScalarKind.Bool && right.Type == ScalarKind.Bool;
                if (!numbers && !(bools && op is "==" or "!="))
                {
                    throw new ExpressionException(
                        bools
                            ? $"'{op}' does not order bools; compare them with == or !="
                            : $"'{op}' compares {EventSchema.KindName(left.Type)} with {EventSchema.KindName(right.Type)}; compare two numbers or two bools",
                        binary.Position);
                }

                return new CompareExpression(op, left, right);
        }
    }

    private static TypedExpression Call(CallSyntax call, NameResolver resolve, List<string> inputs)
    {
        var (least, most) = call.Function switch
        {
            "abs" => (1, 1),
            "min" or "max" or "coalesce" => (2, int.MaxValue),
            "if" => (3, 3),
            _ => throw new ExpressionException($"unknown function '{EchoedText.Shorten(call.Function)}' (functions: {Functions})", call.Position),
        };
        var count = call.Arguments.Count;
        if (count < least || count > most)
        {
            var expected = least == most ? string.Create(CultureInfo.InvariantCulture, $"{least} argument{(least == 1 ? "" : "s")}") : string.Create(CultureInfo.InvariantCulture, $"at least {least} arguments");
            throw new ExpressionException(string.Create(CultureInfo.InvariantCulture, $"{call.Function} takes {expected}, got {count}"), call.Position);
        }

        var arguments = new TypedExpression[count];
        for (var i = 0; i < count; i++)
        {
            arguments[i] = Build(call.Arguments[i], resolve, inputs);
        }

        switch (call.Function)
        {
            case "abs":
                return new AbsExpression(Number(arguments[0], "the argument of abs", call.Arguments[0]));
            case "min" or "max":
            {
                var type = ScalarKind.Int64;
                for (var i = 0; i < count; i++)
                {
                    type = Widest(type, Number(arguments[i], string.Create(CultureInfo.InvariantCulture, $"argument {i + 1} of {call.Function}"), call.Arguments[i]).Type);
                }

                return new MinMaxExpression(call.Function == "max", arguments, type);
            }

            case "coalesce":
                return new CoalesceExpression(arguments, Common(arguments, call, 0));
            default:
                Expect(ScalarKind.Bool, arguments[0], "the condition of if (its first argument)", call.Arguments[0]);
                return new IfExpression(arguments[0], arguments[1], arguments[2], Common(arguments, call, 1));
        }
    }

    /// <summary>The one type of <paramref name="arguments"/> from <paramref name="first"/> on: equal types, or numbers (widened to double if any is).</summary>
    private static ScalarKind Common(TypedExpression[] arguments, CallSyntax call, int first)
    {
        var type = arguments[first].Type;
        for (var i = first + 1; i < arguments.Length; i++)
        {
            var next = arguments[i].Type;
            if (IsNumber(type) && IsNumber(next))
            {
                type = Widest(type, next);
            }
            else if (type != next)
            {
                throw new ExpressionException(
                    string.Create(CultureInfo.InvariantCulture, $"{call.Function}: argument {i + 1} is {EventSchema.KindName(next)} but argument {first + 1} is {EventSchema.KindName(arguments[first].Type)}; they must have one type"),
                    call.Arguments[i].Position);
            }
        }

        return type;
    }

    private static TypedExpression Number(TypedExpression expression, string what, ExpressionSyntax at) =>
        IsNumber(expression.Type)
            ? expression
            : throw new ExpressionException($"{what} must be a number (int64 or double), not {EventSchema.KindName(expression.Type)}", at.Position);

    private static TypedExpression Expect(ScalarKind type, TypedExpression expression, string what, ExpressionSyntax at) =>
        expression.Type == type
            ? expression
            : throw new ExpressionException($"{what} must be {EventSchema.KindName(type)}, not {EventSchema.KindName(expression.Type)}", at.Position);

    private static bool IsNumber(ScalarKind type) => type is ScalarKind.Int64 or ScalarKind.Double;

    private static ScalarKind Widest(ScalarKind a, ScalarKind b) => a == ScalarKind.Double || b == ScalarKind.Double ? ScalarKind.Double : ScalarKind.Int64;
}
