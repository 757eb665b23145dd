using System.Collections.Frozen;

namespace OrleansFeatures.Gateway.Security;

/// <summary>What each RPC of the feature services requires: its endpoint role, its permission, and how a key's entity-type scope applies.</summary>
public sealed record RpcAccess(ServiceRole Role, ApiPermission Permission, EntityScope Scope)
{
    private const string Package = "/orleansfeatures.v1.";

    /// <summary>Every RPC in <c>gateway/Protos</c>; a method of these services missing here is refused, never let through.</summary>
    public static FrozenDictionary<string, RpcAccess> ByMethod { get; } = new Dictionary<string, RpcAccess>(StringComparer.Ordinal)
    {
        [Package + "FeatureServing/GetOnlineFeatures"] = new(ServiceRole.Serving, ApiPermission.Read, EntityScope.RequestEntityType),
        [Package + "FeatureServing/GetInferenceInputs"] = new(ServiceRole.Serving, ApiPermission.Read, EntityScope.ServiceEntityTypes),
        [Package + "FeatureIngestion/PushEvents"] = new(ServiceRole.Ingestion, ApiPermission.Write, EntityScope.SourceEntityTypes),
        [Package + "FeatureRegistry/ApplyDefinitions"] = new(ServiceRole.Admin, ApiPermission.Admin, EntityScope.UnscopedKeysOnly),
        [Package + "FeatureRegistry/ListDefinitions"] = new(ServiceRole.Admin, ApiPermission.Read, EntityScope.UnscopedKeysOnly),
        [Package + "FeatureRegistry/GetDefinitions"] = new(ServiceRole.Admin, ApiPermission.Read, EntityScope.UnscopedKeysOnly),
        [Package + "FeatureRegistry/GetFeatureView"] = new(ServiceRole.Admin, ApiPermission.Read, EntityScope.UnscopedKeysOnly),
        [Package + "FeatureRegistry/GetFeatureService"] = new(ServiceRole.Admin, ApiPermission.Read, EntityScope.UnscopedKeysOnly),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>True for the gateway's own services (access-controlled), false for health and reflection (open).</summary>
    public static bool IsFeatureStoreMethod(string method) => method.StartsWith(Package, StringComparison.Ordinal);
}
