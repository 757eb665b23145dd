namespace OrleansFeatures.Core.Definitions;

/// <summary>
/// Upper bounds on definition documents and <c>where:</c> filters, checked before the work that grows with them
/// (building the YAML tree, parsing a filter), so a hostile document costs bounded time, memory and stack.
/// The table in <c>docs/security.md</c> lists them; a document beyond one is refused with a located error.
/// </summary>
public static class DefinitionLimits
{
    /// <summary>Characters in one definition document.</summary>
    public const int MaxDocumentCharacters = 1_048_576;

    /// <summary>Characters in a document's name (its file name in error messages).</summary>
    public const int MaxDocumentNameLength = 256;

    /// <summary>Nested mappings and sequences in a document; the deepest real definition needs 6.</summary>
    public const int MaxNestingDepth = 64;

    /// <summary>YAML nodes (scalars, mappings, sequences) in one document, aliases counted as the nodes they repeat.</summary>
    public const int MaxNodesPerDocument = 100_000;

    /// <summary>Characters in a name: entity type, source, feature view, feature, feature service.</summary>
    public const int MaxNameLength = 128;

    /// <summary>Characters in one <c>where:</c> filter.</summary>
    public const int MaxFilterLength = 4_096;

    /// <summary>Nested parentheses and <c>not</c>s in one filter.</summary>
    public const int MaxFilterDepth = 32;

    /// <summary>Comparisons and <c>in</c> tests in one filter (so also its <c>and</c>s and <c>or</c>s).</summary>
    public const int MaxFilterTerms = 256;

    /// <summary>Characters in one derived column's expression.</summary>
    public const int MaxExpressionLength = 4_096;

    /// <summary>Nested parentheses, calls and unary operators in one expression.</summary>
    public const int MaxExpressionDepth = 32;

    /// <summary>Terms (literals, names, operators, calls) in one expression.</summary>
    public const int MaxExpressionNodes = 256;

    /// <summary>Errors returned for one load; the rest are counted in one final error.</summary>
    public const int MaxErrorsReported = 100;

    /// <summary>Characters of client-supplied text (a name, a key, a filter) repeated in an error message.</summary>
    public const int MaxEchoedLength = 128;
}
