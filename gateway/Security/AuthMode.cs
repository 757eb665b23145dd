namespace OrleansFeatures.Gateway.Security;

/// <summary>How callers authenticate.</summary>
public enum AuthMode
{
    /// <summary>Every call to the feature services carries an API key listed in <c>FeatureStore:Auth:ApiKeys</c>.</summary>
    ApiKeys,

    /// <summary>No authentication: anyone who reaches the port may read, write and replace definitions.</summary>
    None,
}
