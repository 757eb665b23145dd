using System.Globalization;

namespace OrleansFeatures.Core;

/// <summary>
/// Client-supplied text as it may be repeated in an error or a log line: at most a fixed number of characters,
/// with an ellipsis and the original length when cut, so a megabyte name cannot become a megabyte status or log line.
/// </summary>
public static class EchoedText
{
    public static string Shorten(string? text, int maxLength = Definitions.DefinitionLimits.MaxEchoedLength)
    {
        if (text is null)
        {
            return "";
        }

        if (text.Length <= maxLength)
        {
            return text;
        }

        // Never cut a surrogate pair in half: the result must stay valid UTF-16 (and so valid UTF-8 on the wire).
        var cut = char.IsHighSurrogate(text[maxLength - 1]) ? maxLength - 1 : maxLength;
        return string.Create(CultureInfo.InvariantCulture, $"{text.AsSpan(0, cut)}… ({text.Length} characters)");
    }
}
