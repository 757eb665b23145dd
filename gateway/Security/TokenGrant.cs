using System.Security.Claims;

namespace OrleansFeatures.Gateway.Security;

/// <summary>
/// What a validated bearer token grants, read from its role and scope claims: <c>PREFIXread</c>, <c>PREFIXwrite</c>,
/// <c>PREFIXadmin</c> grant a permission each (case-insensitive); <c>PREFIXentity:TYPE</c> limits the token to the entity
/// types so named, as an API key's <c>EntityTypes</c> does. Other values are ignored.
/// </summary>
public sealed class TokenGrant(string name, IReadOnlySet<ApiPermission> permissions, IReadOnlySet<string>? entityTypes, string valuePrefix)
    : AccessGrant(name, permissions, entityTypes)
{
    private const string EntityMarker = "entity:";

    /// <summary>Client text repeated in a refusal is cut here, as a subject is chosen by the issuer, not by us.</summary>
    private const int MaxNameLength = 128;

    /// <summary>The claims that name the caller, most specific first: the client application, then the subject.</summary>
    private static readonly string[] NameClaimTypes = ["azp", "appid", "client_id", "sub"];

    /// <summary>The claim value that grants <paramref name="permission"/>, as refusals and docs name it.</summary>
    public string RoleValue(ApiPermission permission) => valuePrefix + permission.ToString().ToLowerInvariant();

    public override string LacksPermission(ApiPermission permission) =>
        $"the bearer token of '{Name}' lacks the {permission.ToString().ToLowerInvariant()} permission: it needs the role or scope '{RoleValue(permission)}'";

    public override string OutOfScope => $"the bearer token of '{Name}' is limited to other entity types";

    public static TokenGrant FromClaims(IEnumerable<Claim> claims, JwtOptions options)
    {
        var claimTypes = options.EffectiveClaimTypes;
        var prefix = options.ValuePrefix;
        var permissions = new HashSet<ApiPermission>();
        HashSet<string>? entityTypes = null;
        string? name = null;
        var nameRank = NameClaimTypes.Length;
        foreach (var claim in claims)
        {
            var rank = Array.IndexOf(NameClaimTypes, claim.Type);
            if (rank >= 0 && rank < nameRank && !string.IsNullOrWhiteSpace(claim.Value))
            {
                name = claim.Value;
                nameRank = rank;
            }

            if (!Contains(claimTypes, claim.Type))
            {
                continue;
            }

            // A scope claim is one space-separated string (RFC 8693); a roles claim arrives as one claim per array item.
            foreach (var range in claim.Value.AsSpan().Split(' '))
            {
                var value = claim.Value.AsSpan()[range];
                if (value.IsEmpty || !value.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                value = value[prefix.Length..];
                if (value.StartsWith(EntityMarker, StringComparison.OrdinalIgnoreCase))
                {
                    var entityType = value[EntityMarker.Length..];
                    if (!entityType.IsEmpty)
                    {
                        (entityTypes ??= new HashSet<string>(StringComparer.Ordinal)).Add(entityType.ToString());
                    }
                }
                else if (value.Equals("read", StringComparison.OrdinalIgnoreCase))
                {
                    permissions.Add(ApiPermission.Read);
                }
                else if (value.Equals("write", StringComparison.OrdinalIgnoreCase))
                {
                    permissions.Add(ApiPermission.Write);
                }
                else if (value.Equals("admin", StringComparison.OrdinalIgnoreCase))
                {
                    permissions.Add(ApiPermission.Admin);
                }
            }
        }

        name ??= "(no subject)";
        if (name.Length > MaxNameLength)
        {
            name = name[..MaxNameLength] + "…";
        }

        return new TokenGrant(name, permissions, entityTypes, prefix);
    }

    private static bool Contains(IReadOnlyList<string> claimTypes, string type)
    {
        foreach (var candidate in claimTypes)
        {
            if (string.Equals(candidate, type, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
