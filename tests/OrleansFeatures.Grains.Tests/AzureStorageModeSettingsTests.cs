using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using OrleansFeatures.Grains.Hosting;

namespace OrleansFeatures.Grains.Tests;

/// <summary>FeatureStore:Mode=AzureStorage settings: every bad or missing one fails at start-up naming its key.</summary>
public class AzureStorageModeSettingsTests
{
    private const string Azurite = "UseDevelopmentStorage=true";

    [Theory]
    [InlineData(null, null, null, "FeatureStore:AzureStorage:ConnectionString or FeatureStore:AzureStorage:TableServiceUri is required")]
    [InlineData(Azurite, "https://a.table.core.windows.net", null, "not both")]
    [InlineData(null, "https://a.table.core.windows.net", null, "FeatureStore:AzureStorage:BlobServiceUri")]
    [InlineData(null, "table.core.windows.net", "https://a.blob.core.windows.net", "FeatureStore:AzureStorage:TableServiceUri")]
    public void Storage_account_settings_are_refused_naming_the_key(string? connectionString, string? tableUri, string? blobUri, string expected)
    {
        var error = Assert.Throws<OrleansConfigurationException>(() => Build(
            ("FeatureStore:AzureStorage:ConnectionString", connectionString),
            ("FeatureStore:AzureStorage:TableServiceUri", tableUri),
            ("FeatureStore:AzureStorage:BlobServiceUri", blobUri)));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("FeatureStore:AzureStorage:ContainerName", "Bad_Name")]
    [InlineData("FeatureStore:AzureStorage:MembershipTableName", "1silos")]
    [InlineData("FeatureStore:AzureStorage:StateTableName", "ab")]
    [InlineData("FeatureStore:AdvertisedIPAddress", "not-an-address")]
    public void Names_and_addresses_are_checked_naming_the_key(string key, string value)
    {
        var error = Assert.Throws<OrleansConfigurationException>(() => Build(("FeatureStore:AzureStorage:ConnectionString", Azurite), (key, value)));

        Assert.Contains(key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_an_advertised_address_outside_kubernetes_start_up_fails_naming_the_key()
    {
        var error = Assert.Throws<OrleansConfigurationException>(() => Build(("FeatureStore:AzureStorage:ConnectionString", Azurite), ("FeatureStore:AdvertisedIPAddress", null)));

        Assert.Contains("FeatureStore:AdvertisedIPAddress", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_mode_fails_naming_the_key()
    {
        var error = Assert.ThrowsAny<InvalidOperationException>(() => Build(("FeatureStore:Mode", "Cloud")));

        Assert.Contains("FeatureStore:Mode", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Blob")]
    [InlineData("Table")]
    public void Service_uris_with_a_managed_identity_are_accepted(string grainStorage)
    {
        Build(
            ("FeatureStore:AzureStorage:TableServiceUri", "https://a.table.core.windows.net"),
            ("FeatureStore:AzureStorage:BlobServiceUri", grainStorage == "Blob" ? "https://a.blob.core.windows.net" : null),
            ("FeatureStore:AzureStorage:GrainStorage", grainStorage),
            ("FeatureStore:Kubernetes", "true"),
            ("FeatureStore:AdvertisedIPAddress", null));
    }

    private static void Build(params (string Key, string? Value)[] settings)
    {
        var values = new Dictionary<string, string?>
        {
            ["FeatureStore:Mode"] = "AzureStorage",
            ["FeatureStore:AdvertisedIPAddress"] = "127.0.0.1",
        };
        foreach (var (key, value) in settings)
        {
            values[key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var builder = Host.CreateApplicationBuilder();
        builder.UseOrleans(silo => silo.AddFeatureStore(configuration));
    }
}
