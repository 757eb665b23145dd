using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Orleans.Runtime;
using OrleansFeatures.Grains.Storage;

namespace OrleansFeatures.Grains.Hosting;

/// <summary>
/// The storage account of <see cref="FeatureStoreMode.AzureStorage"/>, bound from <c>FeatureStore:AzureStorage</c>:
/// a connection string, or service URIs reached with <c>DefaultAzureCredential</c> (managed identity in a cluster).
/// </summary>
public sealed class AzureStorageSettings
{
    public const string Section = "FeatureStore:AzureStorage";

    /// <summary>A storage connection string (Azurite, or an account key); leave unset to use the service URIs.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>The Table service (membership, and grain state when <see cref="GrainStorage"/> is Table), e.g. <c>https://ACCOUNT.table.core.windows.net</c>.</summary>
    public Uri? TableServiceUri { get; set; }

    /// <summary>The Blob service (grain state when <see cref="GrainStorage"/> is Blob), e.g. <c>https://ACCOUNT.blob.core.windows.net</c>.</summary>
    public Uri? BlobServiceUri { get; set; }

    public AzureGrainStorageKind GrainStorage { get; set; } = AzureGrainStorageKind.Blob;

    /// <summary>Blob container of grain state.</summary>
    public string ContainerName { get; set; } = "featurestore-state";

    /// <summary>Table of grain state when <see cref="GrainStorage"/> is Table.</summary>
    public string StateTableName { get; set; } = "FeatureStoreState";

    /// <summary>Table of silo membership.</summary>
    public string MembershipTableName { get; set; } = "FeatureStoreSilos";

    /// <summary>Fails naming the first bad or missing key.</summary>
    public void Validate()
    {
        var hasUris = TableServiceUri is not null || BlobServiceUri is not null;
        if (string.IsNullOrWhiteSpace(ConnectionString) == !hasUris)
        {
            throw Bad(hasUris
                ? $"set either {Section}:ConnectionString or {Section}:TableServiceUri (and BlobServiceUri), not both"
                : $"{Section}:ConnectionString or {Section}:TableServiceUri is required when FeatureStore:Mode is AzureStorage");
        }

        if (hasUris)
        {
            if (TableServiceUri is not { IsAbsoluteUri: true })
            {
                throw Bad($"{Section}:TableServiceUri must be an absolute URI (https://ACCOUNT.table.core.windows.net): membership always lives in a table");
            }

            if (GrainStorage == AzureGrainStorageKind.Blob && BlobServiceUri is not { IsAbsoluteUri: true })
            {
                throw Bad($"{Section}:BlobServiceUri must be an absolute URI (https://ACCOUNT.blob.core.windows.net) when {Section}:GrainStorage is Blob");
            }
        }

        if (!Enum.IsDefined(GrainStorage))
        {
            throw Bad($"{Section}:GrainStorage must be Blob or Table");
        }

        // Blob container names: 3-63 lower-case letters, digits and single hyphens.
        if (ContainerName is not { Length: >= 3 and <= 63 } || !ContainerName.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'))
        {
            throw Bad($"{Section}:ContainerName '{ContainerName}' is not a blob container name (3-63 lower-case letters, digits, hyphens)");
        }

        foreach (var (key, table) in new[] { ("StateTableName", StateTableName), ("MembershipTableName", MembershipTableName) })
        {
            if (table is not { Length: >= 3 and <= 63 } || !char.IsAsciiLetter(table[0]) || !table.All(char.IsAsciiLetterOrDigit))
            {
                throw Bad($"{Section}:{key} '{table}' is not a table name (3-63 letters and digits, starting with a letter)");
            }
        }
    }

    /// <summary>A Table client whose requests are counted under <paramref name="role"/> (<see cref="AzureStorageRequestMetrics"/>).</summary>
    public TableServiceClient CreateTableServiceClient(string role)
    {
        var options = new TableClientOptions();
        options.AddPolicy(new AzureStorageRequestMetrics(role, "table"), HttpPipelinePosition.PerCall);
        return string.IsNullOrWhiteSpace(ConnectionString) ? new TableServiceClient(TableServiceUri, Credential, options) : new TableServiceClient(ConnectionString, options);
    }

    /// <summary>A Blob client whose requests are counted under <paramref name="role"/> (<see cref="AzureStorageRequestMetrics"/>).</summary>
    public BlobServiceClient CreateBlobServiceClient(string role)
    {
        var options = new BlobClientOptions();
        options.AddPolicy(new AzureStorageRequestMetrics(role, "blob"), HttpPipelinePosition.PerCall);
        return string.IsNullOrWhiteSpace(ConnectionString) ? new BlobServiceClient(BlobServiceUri, Credential, options) : new BlobServiceClient(ConnectionString, options);
    }

    private static TokenCredential Credential => SharedCredential.Value;

    private static readonly Lazy<TokenCredential> SharedCredential = new(() => new DefaultAzureCredential());

    private static OrleansConfigurationException Bad(string message) => new(message);
}
