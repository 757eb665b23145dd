namespace OrleansFeatures.Gateway.Security;

/// <summary>What a key may do; each is granted on its own (<c>admin</c> does not imply <c>read</c>).</summary>
public enum ApiPermission
{
    /// <summary>Lookups and registry reads.</summary>
    Read,

    /// <summary>Pushing events.</summary>
    Write,

    /// <summary>Applying and planning definitions.</summary>
    Admin,
}
