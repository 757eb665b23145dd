using Grpc.Core;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>
/// Every answer of pushes made while a silo dies, checked against what the entities hold afterwards. Each of
/// <see cref="Users"/> gets one acknowledged event first (so its entity is active on some silo, a killed one among
/// them), then new events, each sent once and never retried, whose answers are recorded: a push that fails as a
/// call leaves its event unknown. <see cref="CheckAsync"/> then reads every entity's count and
/// holds each answer to it (docs/api.md, "Statuses"): ACCEPTED and DUPLICATE events applied exactly once, FAILED ones
/// not applied, UNKNOWN_OUTCOME ones either, and a retry with the same id telling which.
/// </summary>
internal sealed class MidPushAnswers(FeatureIngestion.FeatureIngestionClient ingestion, string prefix, int users, DateTimeOffset time)
{
    private readonly List<(string Id, string User, EventStatus Status)> _answers = [];
    private int _pushes;
    private int _inFlightAtKill;

    /// <summary>The entity ids pushed to.</summary>
    public IReadOnlyList<string> Users { get; } = [.. Enumerable.Range(0, users).Select(u => $"{prefix}{u}")];

    public int Count(EventStatus status) => _answers.Count(a => a.Status == status);

    /// <summary>How many events got each answer, for a failure message.</summary>
    public string Summary => string.Join(", ", _answers.GroupBy(a => a.Status).Select(g => $"{g.Key}: {g.Count()}")) + $" in {_pushes} pushes";

    /// <summary>One event per user, retried with the same ids until each is acknowledged.</summary>
    public async Task ActivateAsync(TimeSpan timeout)
    {
        var pending = Users.Select(u => Events.Play($"{prefix}-init-{u}", u, time, "golf", "view", 1)).ToList();
        var deadline = DateTime.UtcNow + timeout;
        while (pending.Count > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{pending.Count} activating events never acknowledged");
            }

            try
            {
                var response = await ingestion.PushEventsAsync(Events.Push([.. pending]), deadline: DateTime.UtcNow.AddSeconds(10));
                pending = [.. response.Results.Where(r => r.Status is not (EventStatus.Accepted or EventStatus.Duplicate)).Select(r => pending[r.Index])];
            }
            catch (RpcException)
            {
            }
        }
    }

    /// <summary>
    /// Each user's events in turn until <paramref name="done"/>: one push of one new event, then the next once it is
    /// answered, every user at once. So every silo has pushes in flight at any moment, and a user whose entity is on a
    /// dying silo waits for it while the others go on.
    /// </summary>
    /// <param name="killed">True once the silo was killed: pushes sent before and answered after it are counted in <see cref="InFlightAtKill"/>.</param>
    /// <param name="done">When to stop.</param>
    public Task PushUntilAsync(Func<bool> killed, Func<bool> done) => Task.WhenAll(Users.Select(async user =>
    {
        for (var n = 0; !done(); n++)
        {
            Interlocked.Increment(ref _pushes);
            var before = !killed();
            await PushOnceAsync([Events.Play($"{prefix}-{n}-{user}", user, TimeOf(n), "golf", "view", 1)]);
            if (before && killed())
            {
                Interlocked.Increment(ref _inFlightAtKill);
            }
        }
    }));

    /// <summary>Pushes sent before the kill and answered after it (about a third of them to entities of the killed silo).</summary>
    public int InFlightAtKill => Volatile.Read(ref _inFlightAtKill);

    /// <summary>
    /// Reads every user's count and checks it against the answers; then sends every event not known applied again with
    /// its id (FAILED must come back ACCEPTED; UNKNOWN_OUTCOME tells which it was) and checks that each user now holds
    /// every event exactly once. Returns a line for the test output.
    /// </summary>
    public async Task<string> CheckAsync(FeatureServing.FeatureServingClient serving, TimeSpan timeout)
    {
        var before = await CountsAsync(serving);
        var retried = _answers.Where(a => a.Status is not (EventStatus.Accepted or EventStatus.Duplicate)).ToList();
        // The first final answer of each retry is the truth; an event whose retry was itself unknown (the cluster
        // hiccuped again) is only bounded, since its next retry may find the previous retry's apply.
        var truth = new Dictionary<string, EventStatus>();
        var ambiguous = new HashSet<string>();
        var pending = retried;
        var deadline = DateTime.UtcNow + timeout;
        while (pending.Count > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{pending.Count} retried events were never acknowledged");
            var next = new List<(string Id, string User, EventStatus Status)>();
            foreach (var batch in pending.Chunk(200))
            {
                try
                {
                    var response = await ingestion.PushEventsAsync(Events.Push([.. batch.Select(a => Events.Play(a.Id, a.User, TimeOf(a.Id), "golf", "view", 1))]), deadline: DateTime.UtcNow.AddSeconds(10));
                    foreach (var result in response.Results)
                    {
                        var id = batch[result.Index].Id;
                        if (result.Status is EventStatus.Accepted or EventStatus.Duplicate)
                        {
                            truth.TryAdd(id, result.Status);
                        }
                        else
                        {
                            ambiguous.Add(id);
                            next.Add(batch[result.Index]);
                        }
                    }
                }
                catch (RpcException)
                {
                    ambiguous.UnionWith(batch.Select(a => a.Id));
                    next.AddRange(batch);
                }
            }

            pending = next;
            if (pending.Count > 0)
            {
                await Task.Delay(200);
            }
        }

        var failedApplied = retried.Where(a => a.Status == EventStatus.Failed && !ambiguous.Contains(a.Id) && truth[a.Id] == EventStatus.Duplicate).Select(a => a.Id).ToList();
        Assert.True(failedApplied.Count == 0, $"events answered FAILED were found applied (a retry with the same id answered DUPLICATE): {string.Join(", ", failedApplied.Take(10))}");
        foreach (var user in Users)
        {
            var answers = _answers.Where(a => a.User == user).ToList();
            var known = answers.Count(a => a.Status is EventStatus.Accepted or EventStatus.Duplicate
                || (!ambiguous.Contains(a.Id) && truth.GetValueOrDefault(a.Id) == EventStatus.Duplicate));
            var maybe = answers.Count(a => ambiguous.Contains(a.Id));
            // One activating event, then exactly the answered events that were applied.
            Assert.True(before[user] >= 1 + known && before[user] <= 1 + known + maybe, $"{user} held {before[user]} events after the kill; its answers say {1 + known} (+{maybe} unsure): {string.Join(", ", answers.Select(a => $"{a.Id}={a.Status}/{truth.GetValueOrDefault(a.Id)}"))}");
        }

        var after = await CountsAsync(serving);
        Assert.All(Users, user => Assert.Equal(1 + _answers.Count(a => a.User == user), after[user]));
        var unknown = retried.Where(a => a.Status != EventStatus.Failed && !ambiguous.Contains(a.Id)).ToList();
        return $"kill mid-push: {_answers.Count} events in {_pushes} pushes over {Users.Count} entities ({InFlightAtKill} in flight at the kill), answered {Count(EventStatus.Accepted)} ACCEPTED, "
            + $"{Count(EventStatus.Failed)} FAILED, {Count(EventStatus.UnknownOutcome)} UNKNOWN_OUTCOME, {Count(EventStatus.Unspecified)} in failed calls; "
            + $"retried with the same ids: of the unknown {unknown.Count(a => truth[a.Id] == EventStatus.Duplicate)} had been applied and {unknown.Count(a => truth[a.Id] == EventStatus.Accepted)} not ({ambiguous.Count} retried more than once); every count matched the answers";
    }

    private DateTimeOffset TimeOf(string id) => TimeOf(int.Parse(id.Split('-')[1], System.Globalization.CultureInfo.InvariantCulture));

    private DateTimeOffset TimeOf(int n) => time.AddMilliseconds(n + 1);

    private async Task PushOnceAsync(Event[] events)
    {
        EventStatus[] statuses;
        try
        {
            var response = await ingestion.PushEventsAsync(Events.Push(events), deadline: DateTime.UtcNow.AddSeconds(10));
            statuses = new EventStatus[events.Length];
            foreach (var result in response.Results)
            {
                statuses[result.Index] = result.Status;
            }
        }
        catch (RpcException)
        {
            // The call failed: nothing says whether any of its events was applied (recorded as UNSPECIFIED).
            statuses = new EventStatus[events.Length];
        }

        lock (_answers)
        {
            for (var i = 0; i < events.Length; i++)
            {
                _answers.Add((events[i].EventId, events[i].Fields["user_id"].StringValue, statuses[i]));
            }
        }
    }

    private async Task<Dictionary<string, long>> CountsAsync(FeatureServing.FeatureServingClient serving)
    {
        var request = new GetOnlineFeaturesRequest { EntityType = "user" };
        request.EntityIds.Add(Users);
        (request.Features ??= new()).References.Add("user_plays:plays_1h");
        var response = await serving.GetOnlineFeaturesAsync(request, deadline: DateTime.UtcNow.AddSeconds(10));
        return Users.Select((u, i) => (u, response.Entities[i].Values[0].Value?.Int64Value ?? 0)).ToDictionary(x => x.u, x => x.Item2);
    }
}
