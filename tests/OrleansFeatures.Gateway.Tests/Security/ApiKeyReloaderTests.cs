using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using OrleansFeatures.Gateway.Security;

namespace OrleansFeatures.Gateway.Tests.Security;

public sealed class ApiKeyReloaderTests
{
    [Fact]
    public async Task A_reload_accepts_an_added_key_and_refuses_a_removed_one()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Key(0, "old", "old-secret")).Build();
        var ring = new ApiKeyRing(configuration.GetSection(AuthOptions.Section).Get<AuthOptions>()!.ApiKeys);
        using var reloader = new ApiKeyReloader(configuration, ring, new ApiKeysFile(), NullLogger<ApiKeyReloader>.Instance);
        await reloader.StartAsync(CancellationToken.None);

        Replace(configuration, Key(0, "new", "new-secret"));

        Assert.Equal("new", ring.Find("new-secret")?.Name);
        Assert.Null(ring.Find("old-secret"));
    }

    [Fact]
    public async Task Keys_that_fail_validation_on_reload_leave_the_keys_in_force()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Key(0, "old", "old-secret")).Build();
        var ring = new ApiKeyRing(configuration.GetSection(AuthOptions.Section).Get<AuthOptions>()!.ApiKeys);
        using var reloader = new ApiKeyReloader(configuration, ring, new ApiKeysFile(), NullLogger<ApiKeyReloader>.Instance);
        await reloader.StartAsync(CancellationToken.None);

        var broken = Key(0, "new", "new-secret");
        broken["FeatureStore:Auth:ApiKeys:0:Hash"] = "not-a-hash";
        Replace(configuration, broken);

        Assert.Equal("old", ring.Find("old-secret")?.Name);
    }

    /// <summary>Overwrites key 0's settings in place (both versions use the same keys) and fires the reload token.</summary>
    private static void Replace(IConfigurationRoot configuration, Dictionary<string, string?> settings)
    {
        foreach (var (key, value) in settings)
        {
            configuration[key] = value;
        }

        configuration.Reload();
    }

    private static Dictionary<string, string?> Key(int index, string name, string secret)
    {
        var key = ApiKeyRingTests.Key(name, secret, ApiPermission.Read);
        return new()
        {
            [$"FeatureStore:Auth:ApiKeys:{index}:Name"] = key.Name,
            [$"FeatureStore:Auth:ApiKeys:{index}:Hash"] = key.Hash,
            [$"FeatureStore:Auth:ApiKeys:{index}:Permissions:0"] = "read",
        };
    }
}
