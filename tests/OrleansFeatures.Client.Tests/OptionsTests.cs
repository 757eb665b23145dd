using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace OrleansFeatures.Client.Tests;

/// <summary>Options validation, DI registration and the backoff schedule: pure, no server.</summary>
public sealed class OptionsTests
{
    [Fact]
    public void Bad_settings_are_refused_naming_each_setting()
    {
        var options = new FeatureStoreClientOptions
        {
            Address = new Uri("/relative", UriKind.Relative),
            ApiKey = "has space",
            DefaultDeadline = TimeSpan.Zero,
            MaxAttempts = 0,
            InitialBackoff = TimeSpan.FromSeconds(2),
            MaxBackoff = TimeSpan.FromSeconds(1),
        };

        var failure = Assert.Throws<OptionsValidationException>(() => new FeatureStoreClient(options));

        foreach (var setting in new[] { "Address", "ApiKey", "DefaultDeadline", "MaxAttempts", "InitialBackoff" })
        {
            Assert.Contains(failure.Failures, f => f.StartsWith($"FeatureStoreClient:{setting} ", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void The_di_helper_registers_one_shared_client_from_configuration_and_validates_at_start()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FeatureStoreClient:Address"] = "http://127.0.0.1:5080",
            ["FeatureStoreClient:ApiKey"] = "k",
            ["FeatureStoreClient:DefaultDeadline"] = "00:00:00.250",
        }).Build();
        using var services = new ServiceCollection().AddFeatureStoreClient(configuration.GetSection(FeatureStoreClientOptions.Section)).BuildServiceProvider();

        services.GetRequiredService<IStartupValidator>().Validate();
        Assert.Same(services.GetRequiredService<FeatureStoreClient>(), services.GetRequiredService<FeatureStoreClient>());
        Assert.Equal(TimeSpan.FromMilliseconds(250), services.GetRequiredService<IOptions<FeatureStoreClientOptions>>().Value.DefaultDeadline);

        using var bad = new ServiceCollection().AddFeatureStoreClient(o => o.MaxAttempts = 99).BuildServiceProvider();
        var failure = Assert.Throws<OptionsValidationException>(() => bad.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("FeatureStoreClient:Address", failure.Message, StringComparison.Ordinal);
        Assert.Contains("FeatureStoreClient:MaxAttempts", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Backoff_doubles_per_attempt_within_half_and_all_of_its_ceiling_up_to_the_cap()
    {
        var policy = new RetryPolicy(5, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(300));

        Assert.Equal([25.0, 50, 100, 150, 150], Enumerable.Range(1, 5).Select(a => policy.Backoff(a, 0).TotalMilliseconds));
        Assert.Equal([50.0, 100, 200, 300, 300], Enumerable.Range(1, 5).Select(a => policy.Backoff(a, 1).TotalMilliseconds));
    }

    [Theory]
    [InlineData(Grpc.Core.StatusCode.Unavailable, true, true)]
    [InlineData(Grpc.Core.StatusCode.Unavailable, false, true)]
    [InlineData(Grpc.Core.StatusCode.DeadlineExceeded, true, true)]
    [InlineData(Grpc.Core.StatusCode.DeadlineExceeded, false, false)]
    [InlineData(Grpc.Core.StatusCode.InvalidArgument, true, false)]
    [InlineData(Grpc.Core.StatusCode.NotFound, true, false)]
    [InlineData(Grpc.Core.StatusCode.Aborted, true, false)]
    [InlineData(Grpc.Core.StatusCode.Cancelled, true, false)]
    public void Only_unavailable_and_a_read_past_its_deadline_are_transient(Grpc.Core.StatusCode status, bool idempotent, bool transient) =>
        Assert.Equal(transient, RetryPolicy.IsTransient(status, idempotent));
}
