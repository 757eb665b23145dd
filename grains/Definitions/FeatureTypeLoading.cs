using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Runtime;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Definitions;

/// <summary>Where a silo loads C# feature types from (<c>FeatureStore:FeatureTypes</c>).</summary>
public sealed class FeatureTypeOptions
{
    /// <summary>
    /// A folder of feature-type assemblies (<c>*.dll</c>, each built against <c>OrleansFeatures.Sdk</c>), loaded once at
    /// start; unset loads none. A folder that does not exist, an assembly that does not load, or two types with one
    /// <c>name@version</c> fail the start naming this setting (<c>docs/feature-types.md</c>).
    /// </summary>
    public string? Directory { get; set; }
}

/// <summary>Refuses a <see cref="FeatureTypeOptions.Directory"/> that does not exist, naming the setting.</summary>
public sealed class FeatureTypeOptionsValidator : IValidateOptions<FeatureTypeOptions>
{
    public ValidateOptionsResult Validate(string? name, FeatureTypeOptions options) =>
        options.Directory is { } directory && !System.IO.Directory.Exists(directory)
            ? ValidateOptionsResult.Fail($"FeatureStore:FeatureTypes:Directory '{directory}' does not exist")
            : ValidateOptionsResult.Success;
}

/// <summary>Loads the silo's feature types (the singleton <see cref="FeatureTypeCatalog"/>), failing the start with the setting named.</summary>
public static class FeatureTypeLoading
{
    public static FeatureTypeCatalog Load(FeatureTypeOptions options)
    {
        if (options.Directory is not { } directory)
        {
            return FeatureTypeCatalog.Empty;
        }

        try
        {
            return FeatureTypeCatalog.LoadDirectory(directory);
        }
        catch (Exception exception) when (exception is InvalidOperationException or ArgumentException or IOException)
        {
            throw new OptionsValidationException(nameof(FeatureTypeOptions.Directory), typeof(FeatureTypeOptions),
                [$"FeatureStore:FeatureTypes:Directory: {exception.Message}"]);
        }
    }
}

/// <summary>
/// Tells the registry, once this silo has started, which feature types it loaded (retried until the registry answers):
/// the registry refuses definitions naming a type some active silo did not load.
/// </summary>
public sealed partial class FeatureTypeReportService(
    FeatureTypeCatalog featureTypes,
    IGrainFactory grainFactory,
    ILocalSiloDetails silo,
    IHostApplicationLifetime lifetime,
    ILogger<FeatureTypeReportService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        LogLoaded(logger, featureTypes.Ids.Count == 0 ? "none" : string.Join(", ", featureTypes.Ids), featureTypes.Sources.Count == 0 ? "-" : string.Join(", ", featureTypes.Sources));
        try
        {
            await HostStart.WaitAsync(lifetime, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        var report = new SiloFeatureTypes(silo.SiloAddress.ToParsableString(), silo.Name, featureTypes.Ids);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await grainFactory.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey).ReportFeatureTypes(report).WaitAsync(stoppingToken).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                FeatureStoreMetrics.BackgroundFailures.Add(1);
                LogReportFailed(logger, exception, attempt);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 5)), stoppingToken).ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Feature types loaded: {Types} (from {Assemblies})")]
    private static partial void LogLoaded(ILogger logger, string types, string assemblies);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reporting this silo's feature types to the registry failed ({Attempt} attempts); retrying")]
    private static partial void LogReportFailed(ILogger logger, Exception exception, int attempt);
}
