namespace OrleansFeatures.Gateway.Security;

/// <summary>How callers authenticate.</summary>
public enum AuthMode
{
    /// <summary>Every call to the feature services carries an API key listed in <c>FeatureStore:Auth:ApiKeys</c>.</summary>
    ApiKeys,

    /// <summary>Every call carries a JWT bearer token from the issuer in <c>FeatureStore:Auth:Jwt</c>.</summary>
    Jwt,

    /// <summary>Every call carries either an API key or a JWT bearer token; each is checked as in its own mode.</summary>
    ApiKeysAndJwt,

    /// <summary>No authentication: anyone who reaches the port may read, write and replace definitions.</summary>
    None,
}

/// <summary>Which credentials a mode accepts.</summary>
public static class AuthModeExtensions
{
    public static bool AcceptsApiKeys(this AuthMode mode) => mode is AuthMode.ApiKeys or AuthMode.ApiKeysAndJwt;

    public static bool AcceptsJwt(this AuthMode mode) => mode is AuthMode.Jwt or AuthMode.ApiKeysAndJwt;
}
