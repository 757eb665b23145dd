namespace OrleansFeatures.Gateway.Security;

/// <summary>How a key limited to some entity types is checked on an RPC.</summary>
public enum EntityScope
{
    /// <summary>The request's <c>entity_type</c> must be in the key's scope.</summary>
    RequestEntityType,

    /// <summary>Every entity type the requested feature service reads must be in scope; an unknown service is out of scope.</summary>
    ServiceEntityTypes,

    /// <summary>Every entity type fed by the pushed source must be in scope; an unknown source is out of scope.</summary>
    SourceEntityTypes,

    /// <summary>The RPC spans every entity type: refused to a scoped key.</summary>
    UnscopedKeysOnly,
}
