using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Runtime.Hosting;
using Orleans.Storage;
using OrleansFeatures.Grains.Storage;

namespace OrleansFeatures.Grains.Hosting;

/// <summary>Registers <see cref="SqliteGrainStorage"/> as a named Orleans grain storage provider.</summary>
public static class SqliteGrainStorageExtensions
{
    public static ISiloBuilder AddSqliteGrainStorage(this ISiloBuilder builder, string name, Action<SqliteGrainStorageOptions> configure)
    {
        builder.Services.AddOptions<SqliteGrainStorageOptions>(name).Configure(configure);
        builder.Services.AddTransient<IConfigurationValidator>(sp =>
            new SqliteGrainStorageOptionsValidator(sp.GetRequiredService<IOptionsMonitor<SqliteGrainStorageOptions>>().Get(name), name));
        // Orleans' binary serializer: version tolerant through [Id]s and never embeds CLR type names for [Alias]ed state.
        builder.Services.AddTransient<IPostConfigureOptions<SqliteGrainStorageOptions>>(sp =>
            new PostConfigureOptions<SqliteGrainStorageOptions>(name, o => o.GrainStorageSerializer ??= ActivatorUtilities.CreateInstance<BinaryGrainStorageSerializer>(sp)));
        builder.Services.AddGrainStorage(name, static (services, providerName) =>
            new SqliteGrainStorage(
                providerName,
                services.GetRequiredService<IOptionsMonitor<SqliteGrainStorageOptions>>().Get(providerName),
                services.GetRequiredService<ILogger<SqliteGrainStorage>>()));
        return builder;
    }
}

/// <summary>Orleans' in-memory grain storage with the same binary serializer as SQLite (tests and benchmarks).</summary>
public static class MemoryGrainStorageExtensions
{
    public static ISiloBuilder AddFeatureStoreMemoryStorage(this ISiloBuilder builder, string name)
    {
        builder.AddMemoryGrainStorage(name);
        // Orleans' default storage serializer is JSON, which cannot round-trip the engine's value types; registered
        // after Orleans' own defaults, so it wins.
        builder.Services.AddTransient<IPostConfigureOptions<MemoryGrainStorageOptions>>(sp =>
            new PostConfigureOptions<MemoryGrainStorageOptions>(name, o => o.GrainStorageSerializer = ActivatorUtilities.CreateInstance<BinaryGrainStorageSerializer>(sp)));
        return builder;
    }
}

internal sealed class SqliteGrainStorageOptionsValidator(SqliteGrainStorageOptions options, string name) : IConfigurationValidator
{
    public void ValidateConfiguration()
    {
        if (string.IsNullOrWhiteSpace(options.DatabasePath))
        {
            throw new OrleansConfigurationException($"Grain storage '{name}': FeatureStore:Sqlite:DatabasePath must name a file.");
        }

        if (options.MaxWritesPerCommit is < 1 or > 100_000)
        {
            throw new OrleansConfigurationException($"Grain storage '{name}': FeatureStore:Sqlite:MaxWritesPerCommit must be between 1 and 100000, was {options.MaxWritesPerCommit}.");
        }

        if (options.CacheSizeMiB is < 1 or > 65_536)
        {
            throw new OrleansConfigurationException($"Grain storage '{name}': FeatureStore:Sqlite:CacheSizeMiB must be between 1 and 65536, was {options.CacheSizeMiB}.");
        }

        if (options.MemoryMapSizeMiB is < 0 or > 1_048_576)
        {
            throw new OrleansConfigurationException($"Grain storage '{name}': FeatureStore:Sqlite:MemoryMapSizeMiB must be between 0 and 1048576, was {options.MemoryMapSizeMiB}.");
        }
    }
}
