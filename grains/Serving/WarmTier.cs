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
    /// silo has done so. A silo that does not answer in time fails the activation, unless membership says it is no
    /// longer active meanwhile (dead: its tier died with it; stopping: it closed its tier before it said so): a copy that
    /// might still be served must not outlive the activation's first apply.
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
            catch (Exception exception) when (membership.CurrentSnapshot.GetSiloStatus(silo) is not SiloStatus.Active)
            {
                // Dead, or stopping: a stopping silo closed its warm tier before it told the cluster (WarmTierStop).
                LogDeadSiloSkipped(logger, entityType, id, silo, exception.GetType().Name);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Warm copy of {EntityType}/{Id} on silo {Silo}: not invalidated ({Error}), the silo is no longer active")]
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

/// <summary>
/// Closes this silo's warm tier as its stop begins (the first stage to stop), before membership says it is shutting
/// down: from then on other silos' activations skip it (<see cref="WarmTier.InvalidateAsync"/>), and it must hold no copy
/// they could have invalidated.
/// </summary>
internal sealed class WarmTierStop(WarmEntityCache cache) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(WarmTierStop), ServiceLifecycleStage.Active, _ => Task.CompletedTask, _ =>
        {
            cache.Close();
            return Task.CompletedTask;
        });
}

/// <summary>Places a grain on the silo its key names (<see cref="SiloAddress.ToParsableString"/>), or nowhere.</summary>
[GenerateSerializer, Immutable, Alias("of.SiloPinnedPlacement")]
public sealed class SiloPinnedPlacement : PlacementStrategy
{
    internal static readonly SiloPinnedPlacement Instance = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloPinnedPlacementAttribute() : PlacementAttribute(SiloPinnedPlacement.Instance);

/// <remarks>
/// The silo must be active in membership, not among the placement context's compatible silos: those are the silos whose
/// grain manifest this silo has fetched, which it does only once membership shows them active, so for a moment after
/// a silo joins it is active, can hold entities (and warm copies), and is not yet "compatible". Requiring that made
/// every activation in the cluster fail its warm-tier invalidation in that moment. Every silo of this store hosts this
/// grain type.
/// </remarks>
internal sealed class SiloPinnedPlacementDirector(IClusterMembershipService membership) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silo = SiloAddress.FromParsableString(target.GrainIdentity.Key.ToString()!);
        if (membership.CurrentSnapshot.GetSiloStatus(silo) != SiloStatus.Active)
        {
            throw new SiloUnavailableException($"silo {silo} named by {target.GrainIdentity} is not active in the cluster");
        }

        return Task.FromResult(silo);
    }
}
