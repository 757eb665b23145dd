namespace OrleansFeatures.Gateway.Security;

/// <summary>One accepted API key: its SHA-256 hash, what it may do and, optionally, which entity types it may touch.</summary>
public sealed class ApiKeyOptions
{
    /// <summary>Who holds the key; appears in logs (the key never does).</summary>
    public string Name { get; set; } = "";

    /// <summary>SHA-256 of the key as 64 hex digits (<c>echo -n KEY | sha256sum</c>) or 44 base64 characters.</summary>
    public string Hash { get; set; } = "";

    public List<ApiPermission> Permissions { get; } = [];

    /// <summary>When not empty, lookups and pushes are limited to these entity types and registry calls are refused.</summary>
    public List<string> EntityTypes { get; } = [];
}
