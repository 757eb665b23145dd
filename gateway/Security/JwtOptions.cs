namespace OrleansFeatures.Gateway.Security;

/// <summary>
/// Which bearer tokens are accepted, bound from <c>FeatureStore:Auth:Jwt</c> (<c>docs/security.md</c>, "JWT bearer tokens"):
/// the issuer, the audience, where the issuer's signing keys come from, and which claims carry permissions.
/// </summary>
public sealed class JwtOptions
{
    public const string Section = AuthOptions.Section + ":Jwt";

    /// <summary>The token's <c>iss</c> must equal this (Entra ID: <c>https://login.microsoftonline.com/TENANT/v2.0</c>).</summary>
    public string Issuer { get; set; } = "";

    /// <summary>The token's <c>aud</c> must contain this (Entra ID: the API's application ID URI or client id).</summary>
    public string Audience { get; set; } = "";

    /// <summary>
    /// The issuer's OpenID Connect discovery document (<c>https://…/.well-known/openid-configuration</c>); its signing keys are
    /// fetched from its <c>jwks_uri</c> and refreshed as the issuer rotates them. Either this or <see cref="SigningKeysFile"/>.
    /// </summary>
    public string? MetadataAddress { get; set; }

    /// <summary>A JSON Web Key Set file (<c>{"keys":[…]}</c>) holding the issuer's public signing keys, read at start-up.</summary>
    public string? SigningKeysFile { get; set; }

    /// <summary>
    /// The claims whose values grant permissions and entity-type scope; empty means <c>roles</c>, <c>scp</c> and <c>scope</c>
    /// (Entra ID app roles, Entra delegated scopes, OAuth scopes). A value may be an array or space-separated.
    /// </summary>
    public List<string> ClaimTypes { get; } = [];

    /// <summary>
    /// Put before each value the gateway looks for, so values stay unique in a shared issuer: with <c>FeatureStore.</c>
    /// the value <c>FeatureStore.read</c> grants read and <c>FeatureStore.entity:user</c> limits the token to users.
    /// </summary>
    public string ValuePrefix { get; set; } = "";

    /// <summary>Allowed difference between the issuer's clock and ours when checking <c>exp</c> and <c>nbf</c>.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest <see cref="ClockSkew"/> accepted: beyond it an expired token lives on too long.</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(5);

    internal static readonly string[] DefaultClaimTypes = ["roles", "scp", "scope"];

    internal IReadOnlyList<string> EffectiveClaimTypes => ClaimTypes.Count == 0 ? DefaultClaimTypes : ClaimTypes;
}
