namespace OrleansFeatures.Gateway.Security;

/// <summary>A configured key after start-up parsing: what the caller who presents it may do.</summary>
public sealed class ApiKeyCredential(string name, byte[] hash, IReadOnlySet<ApiPermission> permissions, IReadOnlySet<string>? entityTypes)
{
    public string Name { get; } = name;

    internal byte[] Hash { get; } = hash;

    public IReadOnlySet<ApiPermission> Permissions { get; } = permissions;

    /// <summary>Null when the key may touch every entity type.</summary>
    public IReadOnlySet<string>? EntityTypes { get; } = entityTypes;

    public bool Allows(ApiPermission permission) => Permissions.Contains(permission);

    public bool Covers(string entityType) => EntityTypes is null || EntityTypes.Contains(entityType);
}
