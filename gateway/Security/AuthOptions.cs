namespace OrleansFeatures.Gateway.Security;

/// <summary>Who may call the gRPC services, bound from <c>FeatureStore:Auth</c> (<c>docs/security.md</c>).</summary>
public sealed class AuthOptions
{
    public const string Section = "FeatureStore:Auth";

    /// <summary>
    /// <see cref="AuthMode.ApiKeys"/> unless set; the gateway sets <see cref="AuthMode.None"/> itself for <c>--demo</c> and
    /// the Development environment when the setting is absent.
    /// </summary>
    public AuthMode Mode { get; set; } = AuthMode.ApiKeys;

    /// <summary>The accepted keys, stored as hashes; several may be active at once so keys rotate without downtime.</summary>
    public List<ApiKeyOptions> ApiKeys { get; } = [];

    /// <summary>
    /// A JSON settings file added to the configuration and watched: editing its <c>FeatureStore:Auth:ApiKeys</c> adds and
    /// revokes keys without a restart. Optional; keys may also come from any other configuration source.
    /// </summary>
    public string? ApiKeysFile { get; set; }

    /// <summary>The bearer tokens accepted when <see cref="Mode"/> is <see cref="AuthMode.Jwt"/> or <see cref="AuthMode.ApiKeysAndJwt"/>.</summary>
    public JwtOptions Jwt { get; set; } = new();
}
