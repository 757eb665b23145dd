using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using OrleansFeatures.Gateway.Security;
using OrleansFeatures.TestInfrastructure;

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

    [Fact]
    public async Task A_broken_keys_file_keeps_the_keys_even_when_another_source_reloads_afterwards()
    {
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "keys.json");
        var old = ApiKeyRingTests.Key("old", "old-secret", ApiPermission.Read);
        await File.WriteAllTextAsync(path, "{\"FeatureStore\":{\"Auth\":{\"ApiKeys\":[{\"Name\":\"old\",\"Hash\":\"" + old.Hash + "\",\"Permissions\":[\"read\"]}]}}}");
        var other = new SignalSource();
        var configuration = new ConfigurationManager();
        configuration["FeatureStore:Auth:ApiKeysFile"] = path;
        ((IConfigurationBuilder)configuration).Add(other);
        var file = new ApiKeysFile();
        file.AddTo(configuration);
        var ring = new ApiKeyRing(configuration.GetSection(AuthOptions.Section).Get<AuthOptions>()!.ApiKeys);
        using var reloader = new ApiKeyReloader(configuration, ring, file, NullLogger<ApiKeyReloader>.Instance);
        await reloader.StartAsync(CancellationToken.None);

        // The file watcher's reload of a broken file empties the file's settings (a manual Reload would keep them).
        await File.WriteAllTextAsync(path, "{ \"FeatureStore\": ");
        await Poll.UntilAsync(
            () => Task.FromResult(configuration["FeatureStore:Auth:ApiKeys:0:Name"]),
            name => name is null,
            TimeSpan.FromSeconds(20),
            "the watcher to reload the broken file");
        other.Provider.Signal();

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

    /// <summary>A configuration source that only fires the reload token, as an unrelated settings change would.</summary>
    private sealed class SignalSource : IConfigurationSource
    {
        public SignalProvider Provider { get; } = new();

        public IConfigurationProvider Build(IConfigurationBuilder builder) => Provider;
    }

    private sealed class SignalProvider : ConfigurationProvider
    {
        public void Signal() => OnReload();
    }
}
