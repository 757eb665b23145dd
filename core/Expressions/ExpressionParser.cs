using System.Globalization;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Expressions;

/// <summary>
/// Parses a derived column's expression (<c>core/Definitions/README.md</c>, "Derived columns"): numbers,
/// <c>true</c>/<c>false</c>, column names, <c>+ - * /</c>, comparisons, <c>and</c>/<c>or</c>/<c>not</c>, parentheses
/// and function calls. Precedence, loosest first: <c>or</c>, <c>and</c>, <c>not</c>, comparisons (not chained),
/// <c>+ -</c>, <c>* /</c>, unary minus. Length, nesting and node count are bounded by <see cref="DefinitionLimits"/>
/// and checked as the parser goes, so the recursion here and in every walk over the tree stays shallow.
/// </summary>
public static class ExpressionParser
{
    public static ExpressionSyntax Parse(string text)
    {
        if (text.Length > DefinitionLimits.MaxExpressionLength)
        {
            throw new ExpressionException(
                string.Create(CultureInfo.InvariantCulture, $"the expression is {text.Length} characters; the limit is {DefinitionLimits.MaxExpressionLength}"),
                DefinitionLimits.MaxExpressionLength);
        }

        var parser = new Parser(Tokenize(text));
        var expression = parser.ParseOr();
        parser.ExpectEnd();
        return expression;
    }

    private static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            var start = i;
            if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1])))
            {
                var real = false;
                while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] is '.' or 'e' or 'E' || (text[i] is '+' or '-' && text[i - 1] is 'e' or 'E')))
                {
                    real |= !char.IsAsciiDigit(text[i]);
                    i++;
                }

                var number = text[start..i];
                if (!real && long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var integer))
                {
                    tokens.Add(new Token(TokenKind.Literal, number, start, ScalarValue.FromInt64(integer)));
                }
                else if (real && double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value))
                {
                    tokens.Add(new Token(TokenKind.Literal, number, start, ScalarValue.FromDouble(value)));
                }
                else
                {
                    throw new ExpressionException(
                        real ? $"'{EchoedText.Shorten(number)}' is not a finite number" : $"'{EchoedText.Shorten(number)}' does not fit in an int64 (write it with a decimal point to make it a double)",
                        start);
                }
            }
            else if (char.IsAsciiLetter(c) || c == '_')
            {
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '_' or '.' or ':'))
                {
                    i++;
                }

                var word = text[start..i];
                tokens.Add(word switch
                {
                    "and" or "or" => new Token(TokenKind.Operator, word, start),
                    "not" => new Token(TokenKind.Not, word, start),
                    "true" => new Token(TokenKind.Literal, word, start, ScalarValue.FromBool(true)),
                    "false" => new Token(TokenKind.Literal, word, start, ScalarValue.FromBool(false)),
                    _ => new Token(TokenKind.Name, word, start),
                });
            }
            else if (c == '`')
            {
                // A quoted name, for names with '-' (which would read as a minus).
                var close = text.IndexOf('`', i + 1);
                if (close < 0)
                {
                    throw new ExpressionException("unterminated `quoted name`", start);
                }

                if (close == i + 1)
                {
                    throw new ExpressionException("empty `quoted name`", start);
                }

                tokens.Add(new Token(TokenKind.Name, text[(i + 1)..close], start));
                i = close + 1;
            }
            else
            {
                var two = i + 1 < text.Length ? text.Substring(i, 2) : "";
                if (two is "==" or "!=" or "<=" or ">=")
                {
                    tokens.Add(new Token(TokenKind.Operator, two, start));
                    i += 2;
                }
                else if (c is '<' or '>' or '+' or '-' or '*' or '/')
                {
                    tokens.Add(new Token(TokenKind.Operator, c.ToString(), start));
                    i++;
                }
                else if (c is '(' or ')' or ',')
                {
                    tokens.Add(new Token(c == '(' ? TokenKind.Open : c == ')' ? TokenKind.Close : TokenKind.Comma, c.ToString(), start));
                    i++;
                }
                else if (c == '=')
                {
                    throw new ExpressionException("unexpected '=' (compare with ==)", start);
                }
                else
                {
                    throw new ExpressionException($"unexpected character '{c}'", start);
                }
            }
        }

        tokens.Add(new Token(TokenKind.End, "end of expression", text.Length));
        return tokens;
    }

    private enum TokenKind
    {
        Name,
        Literal,
        Operator,
        Not,
        Open,
        Close,
        Comma,
        End,
    }

    private readonly record struct Token(TokenKind Kind, string Text, int Position, ScalarValue Literal = default);

    private sealed class Parser(List<Token> tokens)
    {
        private int _next;
        private int _depth;
        private int _nodes;

        private Token Peek => tokens[_next];

        public ExpressionSyntax ParseOr()
        {
            var left = ParseAnd();
            while (IsOperator("or"))
            {
                var op = tokens[_next++];
                left = Node(new BinarySyntax(op.Text, left, ParseAnd(), op.Position));
            }

            return left;
        }

        public void ExpectEnd()
        {
            if (Peek.Kind != TokenKind.End)
            {
                throw new ExpressionException($"unexpected '{EchoedText.Shorten(Peek.Text)}' (expected an operator or the end)", Peek.Position);
            }
        }

        private ExpressionSyntax ParseAnd()
        {
            var left = ParseNot();
            while (IsOperator("and"))
            {
                var op = tokens[_next++];
                left = Node(new BinarySyntax(op.Text, left, ParseNot(), op.Position));
            }

            return left;
        }

        private ExpressionSyntax ParseNot()
        {
            if (Peek.Kind != TokenKind.Not)
            {
                return ParseComparison();
            }

            var op = Peek;
            Enter();
            var operand = ParseNot();
            _depth--;
            return Node(new UnarySyntax("not", operand, op.Position));
        }

        private ExpressionSyntax ParseComparison()
        {
            var left = ParseSum();
            if (Peek.Kind == TokenKind.Operator && Peek.Text is "==" or "!=" or "<" or "<=" or ">" or ">=")
            {
                var op = tokens[_next++];
                left = Node(new BinarySyntax(op.Text, left, ParseSum(), op.Position));
                if (Peek.Kind == TokenKind.Operator && Peek.Text is "==" or "!=" or "<" or "<=" or ">" or ">=")
                {
                    throw new ExpressionException($"comparisons do not chain: '{op.Text}' then '{Peek.Text}' (combine them with and)", Peek.Position);
                }
            }

            return left;
        }

        private ExpressionSyntax ParseSum()
        {
            var left = ParseProduct();
            while (IsOperator("+") || IsOperator("-"))
            {
                var op = tokens[_next++];
                left = Node(new BinarySyntax(op.Text, left, ParseProduct(), op.Position));
            }

            return left;
        }

        private ExpressionSyntax ParseProduct()
        {
            var left = ParseUnary();
            while (IsOperator("*") || IsOperator("/"))
            {
                var op = tokens[_next++];
                left = Node(new BinarySyntax(op.Text, left, ParseUnary(), op.Position));
            }

            return left;
        }

        private ExpressionSyntax ParseUnary()
        {
            if (IsOperator("-"))
            {
                var op = Peek;
                Enter();
                var operand = ParseUnary();
                _depth--;
                return Node(new UnarySyntax("-", operand, op.Position));
            }

            return ParsePrimary();
        }

        private ExpressionSyntax ParsePrimary()
        {
            var token = Peek;
            switch (token.Kind)
            {
                case TokenKind.Literal:
                    _next++;
                    return Node(new LiteralSyntax(token.Literal, token.Position));
                case TokenKind.Open:
                {
                    Enter();
                    var inner = ParseOr();
                    Expect(TokenKind.Close, "')'");
                    _depth--;
                    return inner;
                }

                case TokenKind.Name when tokens[_next + 1].Kind == TokenKind.Open:
                {
                    _next++;
                    Enter();
                    var arguments = new List<ExpressionSyntax>();
                    if (Peek.Kind != TokenKind.Close)
                    {
                        arguments.Add(ParseOr());
                        while (Peek.Kind == TokenKind.Comma)
                        {
                            _next++;
                            arguments.Add(ParseOr());
                        }
                    }

                    Expect(TokenKind.Close, $"',' or ')' to close {token.Text}(");
                    _depth--;
                    return Node(new CallSyntax(token.Text, arguments, token.Position));
                }

                case TokenKind.Name:
                    _next++;
                    return Node(new NameSyntax(token.Text, token.Position));
                default:
                    throw new ExpressionException($"expected a number, a name, a function call or '(' but found '{EchoedText.Shorten(token.Text)}'", token.Position);
            }
        }

        private bool IsOperator(string text) => Peek.Kind == TokenKind.Operator && Peek.Text == text;

        private T Node<T>(T node)
            where T : ExpressionSyntax
        {
            if (++_nodes > DefinitionLimits.MaxExpressionNodes)
            {
                throw new ExpressionException(
                    string.Create(CultureInfo.InvariantCulture, $"the expression has more than {DefinitionLimits.MaxExpressionNodes} terms"), node.Position);
            }

            return node;
        }

        /// <summary>Consumes a token that opens a level (<c>(</c>, a call, a unary operator), refusing to go past the limit.</summary>
        private void Enter()
        {
            if (++_depth > DefinitionLimits.MaxExpressionDepth)
            {
                throw new ExpressionException(
                    string.Create(CultureInfo.InvariantCulture, $"the expression is nested more than {DefinitionLimits.MaxExpressionDepth} levels deep"), Peek.Position);
            }

            _next++;
        }

        private void Expect(TokenKind kind, string what)
        {
            var token = Peek;
            if (token.Kind != kind)
            {
                throw new ExpressionException($"expected {what} but found '{EchoedText.Shorten(token.Text)}'", token.Position);
            }

            _next++;
        }
    }
}
