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
}
