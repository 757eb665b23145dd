using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Concurrency;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;
using OrleansFeatures.Grains.Diagnostics;

namespace OrleansFeatures.Grains.Serving;

/// <summary>
/// The cluster side of the warm tier: an activation removes its entity's warm copy from every silo before it reads
/// storage, so no silo serves a warm copy older than what an activation elsewhere has applied since.
/// </summary>
public sealed partial class WarmTier(
    WarmEntityCache cache,
    IGrainFactory grainFactory,
    IClusterMembershipService membership,
    ILocalSiloDetails localSilo,
    ILogger<WarmTier> logger)
{
    /// <summary>How long an activation waits for another silo to drop its warm copy before it fails (retryable).</summary>
    internal static readonly TimeSpan RemoteInvalidationTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Removes the entity's warm copy (or leaving marker) here and on every other active silo, and returns once each
    /// silo has done so. A silo that does not answer in time fails the activation, unless membership has declared it
    /// dead meanwhile (its tier died with it): a copy that might still be served must not outlive the activation's
    /// first apply.
    /// </summary>
    public Task InvalidateAsync(string entityType, string id)
    {
        cache.Invalidate(entityType, id);
        if (!cache.Enabled)
        {
            // The setting is the same on every silo (docs/operations.md): no silo holds a warm copy.
            return Task.CompletedTask;
        }

        var snapshot = membership.CurrentSnapshot;
        List<(SiloAddress Silo, Task Call)>? calls = null;
        foreach (var (silo, member) in snapshot.Members)
        {
            if (member.Status != SiloStatus.Active || silo.Equals(localSilo.SiloAddress))
            {
                continue;
            }

            (calls ??= []).Add((silo, grainFactory.GetGrain<IWarmTierGrain>(silo.ToParsableString()).Invalidate(entityType, id)));
        }

        return calls is null ? Task.CompletedTask : AwaitRemoteAsync(entityType, id, calls);
    }

    private async Task AwaitRemoteAsync(string entityType, string id, List<(SiloAddress Silo, Task Call)> calls)
    {
        FeatureStoreMetrics.WarmRemoteInvalidations.Add(calls.Count);
        foreach (var (silo, call) in calls)
        {
            try
            {
                await call.WaitAsync(RemoteInvalidationTimeout).ConfigureAwait(false);
            }
            catch (Exception exception) when (membership.CurrentSnapshot.GetSiloStatus(silo) is not SiloStatus.Active and not SiloStatus.ShuttingDown and not SiloStatus.Stopping and not SiloStatus.Joining)
            {
                LogDeadSiloSkipped(logger, entityType, id, silo, exception.GetType().Name);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Warm copy of {EntityType}/{Id} on silo {Silo}: not invalidated ({Error}), the silo is no longer in the cluster")]
    private static partial void LogDeadSiloSkipped(ILogger logger, string entityType, string id, SiloAddress silo, string error);
}

/// <summary>One per silo (keyed and placed by its silo address): drops a warm copy there on behalf of an activation elsewhere.</summary>
public interface IWarmTierGrain : IGrainWithStringKey
{
    [AlwaysInterleave]
    Task Invalidate(string entityType, string id);
}

[SiloPinnedPlacement]
[Reentrant]
internal sealed class WarmTierGrain(WarmEntityCache cache) : Grain, IWarmTierGrain
{
    public Task Invalidate(string entityType, string id)
    {
        cache.Invalidate(entityType, id);
        return Task.CompletedTask;
    }
}

/// <summary>Places a grain on the silo its key names (<see cref="SiloAddress.ToParsableString"/>), or nowhere.</summary>
[GenerateSerializer, Immutable, Alias("of.SiloPinnedPlacement")]
public sealed class SiloPinnedPlacement : PlacementStrategy
{
    internal static readonly SiloPinnedPlacement Instance = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloPinnedPlacementAttribute() : PlacementAttribute(SiloPinnedPlacement.Instance);

internal sealed class SiloPinnedPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silo = SiloAddress.FromParsableString(target.GrainIdentity.Key.ToString()!);
        if (Array.IndexOf(context.GetCompatibleSilos(target), silo) < 0)
        {
            throw new SiloUnavailableException($"silo {silo} named by {target.GrainIdentity} is not in the cluster");
        }

        return Task.FromResult(silo);
    }
}
