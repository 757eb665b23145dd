using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace OrleansFeatures.Core.Definitions;

/// <summary>
/// Checks a document's size, nesting depth and node count against <see cref="DefinitionLimits"/> by streaming its
/// parser events, before YamlDotNet's representation model builds the tree: that builder recurses once per
/// nesting level, so a deep enough document overflows the stack, which no exception handler can catch.
/// </summary>
public static class DocumentPrescan
{
    /// <summary>The first limit the document exceeds, as an error; null when it is within bounds (or has a syntax error first).</summary>
    public static DefinitionError? Check(DefinitionDocument document)
    {
        var file = EchoedText.Shorten(document.Name, DefinitionLimits.MaxDocumentNameLength);
        if (document.Name.Length > DefinitionLimits.MaxDocumentNameLength)
        {
            return new DefinitionError(file, 0, 0, "",
                Invariant($"the document name is {document.Name.Length} characters; the limit is {DefinitionLimits.MaxDocumentNameLength}"));
        }

        if (document.Yaml.Length > DefinitionLimits.MaxDocumentCharacters)
        {
            return new DefinitionError(file, 0, 0, "",
                Invariant($"the document is {document.Yaml.Length} characters; the limit is {DefinitionLimits.MaxDocumentCharacters}"));
        }

        // Anchor name → nodes under it, so an alias counts what it repeats and nested aliases multiply.
        var anchorSizes = new Dictionary<string, long>(StringComparer.Ordinal);
        var open = new Stack<(string? Anchor, long NodesBefore)>();
        long nodes = 0;
        var parser = new Parser(new StringReader(document.Yaml));
        try
        {
            while (parser.MoveNext())
            {
                switch (parser.Current)
                {
                    case MappingStart or SequenceStart:
                        var start = (NodeEvent)parser.Current;
                        nodes++;
                        if (open.Count >= DefinitionLimits.MaxNestingDepth)
                        {
                            return At(file, start.Start, Invariant($"the document is nested more than {DefinitionLimits.MaxNestingDepth} levels deep"));
                        }

                        open.Push((start.Anchor.IsEmpty ? null : start.Anchor.Value, nodes));
                        break;
                    case MappingEnd or SequenceEnd:
                        var (anchor, before) = open.Pop();
                        if (anchor is not null)
                        {
                            anchorSizes[anchor] = nodes - before + 1;
                        }

                        break;
                    case Scalar scalar:
                        nodes++;
                        if (!scalar.Anchor.IsEmpty)
                        {
                            anchorSizes[scalar.Anchor.Value] = 1;
                        }

                        break;
                    case AnchorAlias alias:
                        nodes += anchorSizes.GetValueOrDefault(alias.Value.Value, 1);
                        break;
                }

                if (nodes > DefinitionLimits.MaxNodesPerDocument)
                {
                    return At(file, parser.Current!.Start, Invariant($"the document has more than {DefinitionLimits.MaxNodesPerDocument} nodes (aliases count as the nodes they repeat)"));
                }
            }
        }
        catch (YamlException)
        {
            // Within the limits up to the error, so building the tree stops at the same place: the loader reports
            // the syntax error, as a definition error like any other.
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner throws this on some control characters after a line break in a flow collection
            // (18.1.0) instead of a YamlException. The tree builder would throw the same, so refuse it here.
            return new DefinitionError(file, 0, 0, "", "the document is not valid YAML (the parser could not read it)");
        }

        return null;
    }

    private static DefinitionError At(string file, Mark mark, string message) => new(file, (int)mark.Line, (int)mark.Column, "", message);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
