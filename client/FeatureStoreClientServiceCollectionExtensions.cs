using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OrleansFeatures.Client;

/// <summary>Registers one shared <see cref="FeatureStoreClient"/> (one channel for the process) with validated options.</summary>
public static class FeatureStoreClientServiceCollectionExtensions
{
    /// <summary>Options from code, e.g. <c>o =&gt; o.Address = new Uri("http://gateway:5080")</c>.</summary>
    public static IServiceCollection AddFeatureStoreClient(this IServiceCollection services, Action<FeatureStoreClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return services.AddFeatureStoreClient(builder => builder.Configure(configure));
    }

    /// <summary>Options bound from a configuration section (<see cref="FeatureStoreClientOptions.Section"/> by convention).</summary>
    public static IServiceCollection AddFeatureStoreClient(this IServiceCollection services, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        return services.AddFeatureStoreClient(builder => builder.Bind(section));
    }

    private static IServiceCollection AddFeatureStoreClient(this IServiceCollection services, Action<OptionsBuilder<FeatureStoreClientOptions>> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<FeatureStoreClientOptions>();
        configure(builder);
        builder.ValidateOnStart();
        services.AddSingleton<IValidateOptions<FeatureStoreClientOptions>, FeatureStoreClientOptionsValidator>();
        services.AddSingleton(sp => new FeatureStoreClient(
            sp.GetRequiredService<IOptions<FeatureStoreClientOptions>>().Value,
            sp.GetService<ILogger<FeatureStoreClient>>()));
        return services;
    }
}
