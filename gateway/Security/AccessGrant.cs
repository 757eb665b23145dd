namespace OrleansFeatures.Gateway.Security;

/// <summary>What an authenticated caller may do, whichever credential it presented: permissions and an optional entity-type scope.</summary>
public class AccessGrant(string name, IReadOnlySet<ApiPermission> permissions, IReadOnlySet<string>? entityTypes)
{
    /// <summary>Who the caller is, for logs and refusals: the key's name, or the token's subject.</summary>
    public string Name { get; } = name;

    public IReadOnlySet<ApiPermission> Permissions { get; } = permissions;

    /// <summary>Null when the caller may touch every entity type.</summary>
    public IReadOnlySet<string>? EntityTypes { get; } = entityTypes;

    public bool Allows(ApiPermission permission) => Permissions.Contains(permission);

    public bool Covers(string entityType) => EntityTypes is null || EntityTypes.Contains(entityType);

    /// <summary>The refusal for a missing permission, in the credential's own terms.</summary>
    public virtual string LacksPermission(ApiPermission permission) =>
        $"the API key '{Name}' lacks the {permission.ToString().ToLowerInvariant()} permission";

    /// <summary>The refusal for an entity type outside the scope; the same whether the type, view or source exists.</summary>
    public virtual string OutOfScope => $"the API key '{Name}' is limited to other entity types";
}
