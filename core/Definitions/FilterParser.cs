using System.Globalization;
using System.Text;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Definitions;

/// <summary>A filter that could not be parsed: the message and the 0-based character position in the filter text.</summary>
public sealed class FilterSyntaxException(string message, int position) : Exception(message)
{
    public int Position { get; } = position;
}

/// <summary>
/// Parses <c>where:</c> filters: comparisons (<c>== != &lt; &lt;= &gt; &gt;=</c>) of a field with a literal
/// ('text', numbers, true, false), <c>field in ('a', 'b')</c>, <c>and</c>, <c>or</c>, <c>not</c> and parentheses.
/// <c>not</c> binds tighter than <c>and</c>, which binds tighter than <c>or</c>. Length, nesting and term count are
/// bounded by <see cref="DefinitionLimits"/> and checked as the parser goes, so the recursion here and in every
/// walk over the parsed tree stays shallow.
/// </summary>
public static class FilterParser
{
    public static FilterExpression Parse(string text)
    {
        if (text.Length > DefinitionLimits.MaxFilterLength)
        {
            throw new FilterSyntaxException(
                string.Create(CultureInfo.InvariantCulture, $"the filter is {text.Length} characters; the limit is {DefinitionLimits.MaxFilterLength}"),
                DefinitionLimits.MaxFilterLength);
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
            if (c == '\'')
            {
                var value = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= text.Length)
                    {
                        throw new FilterSyntaxException("unterminated string literal", start);
                    }

                    if (text[i] == '\'')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '\'')
                        {
                            value.Append('\'');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    value.Append(text[i++]);
                }

                tokens.Add(new Token(TokenKind.Literal, value.ToString(), start, ScalarValue.FromString(value.ToString())));
            }
            else if (char.IsDigit(c) || ((c == '-' || c == '.') && i + 1 < text.Length && (char.IsDigit(text[i + 1]) || text[i + 1] == '.')))
            {
                i++;
                while (i < text.Length && (char.IsDigit(text[i]) || text[i] is '.' or 'e' or 'E' || (text[i] is '+' or '-' && text[i - 1] is 'e' or 'E')))
                {
                    i++;
                }

                var number = text[start..i];
                ScalarValue literal;
                if (long.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
                {
                    literal = ScalarValue.FromInt64(integer);
                }
                else if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var real))
                {
                    literal = ScalarValue.FromDouble(real);
                }
                else
                {
                    throw new FilterSyntaxException($"'{EchoedText.Shorten(number)}' is not a number", start);
                }

                tokens.Add(new Token(TokenKind.Literal, number, start, literal));
            }
            else if (char.IsLetter(c) || c == '_')
            {
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] is '_' or '.'))
                {
                    i++;
                }

                var word = text[start..i];
                tokens.Add(word switch
                {
                    "and" => new Token(TokenKind.And, word, start),
                    "or" => new Token(TokenKind.Or, word, start),
                    "not" => new Token(TokenKind.Not, word, start),
                    "in" => new Token(TokenKind.In, word, start),
                    "true" => new Token(TokenKind.Literal, word, start, ScalarValue.FromBool(true)),
                    "false" => new Token(TokenKind.Literal, word, start, ScalarValue.FromBool(false)),
                    _ => new Token(TokenKind.Identifier, word, start),
                });
            }
            else
            {
                var two = i + 1 < text.Length ? text.Substring(i, 2) : "";
                if (two is "==" or "!=" or "<=" or ">=")
                {
                    tokens.Add(new Token(TokenKind.Operator, two, start));
                    i += 2;
                }
                else if (c is '<' or '>')
                {
                    tokens.Add(new Token(TokenKind.Operator, c.ToString(), start));
                    i++;
                }
                else if (c is '(' or ')' or ',')
                {
                    tokens.Add(new Token(c == '(' ? TokenKind.Open : c == ')' ? TokenKind.Close : TokenKind.Comma, c.ToString(), start));
                    i++;
                }
                else
                {
                    throw new FilterSyntaxException($"unexpected character '{c}'", start);
                }
            }
        }

        tokens.Add(new Token(TokenKind.End, "end of filter", text.Length));
        return tokens;
    }

    private enum TokenKind
    {
        Identifier,
        Literal,
        Operator,
        And,
        Or,
        Not,
        In,
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
        private int _terms;

        private Token Peek => tokens[_next];

        public FilterExpression ParseOr()
        {
            var left = ParseAnd();
            while (Peek.Kind == TokenKind.Or)
            {
                _next++;
                left = new OrFilter(left, ParseAnd());
            }

            return left;
        }

        public void ExpectEnd()
        {
            if (Peek.Kind != TokenKind.End)
            {
                throw new FilterSyntaxException($"unexpected '{EchoedText.Shorten(Peek.Text)}' (expected and, or or the end)", Peek.Position);
            }
        }

        private FilterExpression ParseAnd()
        {
            var left = ParseUnary();
            while (Peek.Kind == TokenKind.And)
            {
                _next++;
                left = new AndFilter(left, ParseUnary());
            }

            return left;
        }

        private FilterExpression ParseUnary()
        {
            if (Peek.Kind == TokenKind.Not)
            {
                Enter();
                var negated = new NotFilter(ParseUnary());
                _depth--;
                return negated;
            }

            if (Peek.Kind == TokenKind.Open)
            {
                Enter();
                var inner = ParseOr();
                Expect(TokenKind.Close, "')'");
                _depth--;
                return inner;
            }

            if (++_terms > DefinitionLimits.MaxFilterTerms)
            {
                throw new FilterSyntaxException(
                    string.Create(CultureInfo.InvariantCulture, $"the filter has more than {DefinitionLimits.MaxFilterTerms} comparisons"), Peek.Position);
            }

            var field = Expect(TokenKind.Identifier, "a field name");
            if (Peek.Kind == TokenKind.In)
            {
                _next++;
                Expect(TokenKind.Open, "'(' after in");
                var values = new List<ScalarValue> { Expect(TokenKind.Literal, "a literal").Literal };
                while (Peek.Kind == TokenKind.Comma)
                {
                    _next++;
                    values.Add(Expect(TokenKind.Literal, "a literal").Literal);
                }

                Expect(TokenKind.Close, "')' to close the in list");
                return new InFilter(field.Text, values);
            }

            var op = Expect(TokenKind.Operator, "a comparison (==, !=, <, <=, >, >=) or in");
            var literal = Expect(TokenKind.Literal, "a literal ('text', a number, true or false)");
            return new ComparisonFilter(field.Text, op.Text, literal.Literal);
        }

        /// <summary>Consumes a <c>not</c> or <c>(</c> one level deeper, refusing to go past the limit.</summary>
        private void Enter()
        {
            if (++_depth > DefinitionLimits.MaxFilterDepth)
            {
                throw new FilterSyntaxException(
                    string.Create(CultureInfo.InvariantCulture, $"the filter is nested more than {DefinitionLimits.MaxFilterDepth} levels deep"), Peek.Position);
            }

            _next++;
        }

        private Token Expect(TokenKind kind, string what)
        {
            var token = Peek;
            if (token.Kind != kind)
            {
                throw new FilterSyntaxException($"expected {what} but found '{EchoedText.Shorten(token.Text)}'", token.Position);
            }

            _next++;
            return token;
        }
    }
}
