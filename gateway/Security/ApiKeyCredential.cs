namespace OrleansFeatures.Gateway.Security;

/// <summary>A configured key after start-up parsing: what the caller who presents it may do.</summary>
public sealed class ApiKeyCredential(string name, byte[] hash, IReadOnlySet<ApiPermission> permissions, IReadOnlySet<string>? entityTypes)
    : AccessGrant(name, permissions, entityTypes)
{
    internal byte[] Hash { get; } = hash;
}
