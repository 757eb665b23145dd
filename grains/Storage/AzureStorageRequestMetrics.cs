using System.Diagnostics;
using Azure.Core;
using Azure.Core.Pipeline;
using OrleansFeatures.Grains.Diagnostics;

namespace OrleansFeatures.Grains.Storage;

/// <summary>
/// Counts and times every Azure Table or Blob request of one client (grain state or membership) and counts those that
/// failed, as a per-call policy in the SDK's pipeline: one observation per operation, the SDK's retries inside it.
/// Failed: no answer (connection refused, timeout, cancelled), a 5xx, 408 or 429. Other 4xx are answers the callers
/// handle (a 404 for a grain never written, a 412 when another silo's membership write won) and are not failures.
/// </summary>
public sealed class AzureStorageRequestMetrics : HttpPipelinePolicy
{
    private readonly KeyValuePair<string, object?> _role;
    private readonly KeyValuePair<string, object?> _service;

    /// <param name="role">What the client stores: <see cref="StateRole"/> or <see cref="MembershipRole"/>.</param>
    /// <param name="service"><c>table</c> or <c>blob</c>.</param>
    public AzureStorageRequestMetrics(string role, string service)
    {
        _role = new("role", role);
        _service = new("service", service);
    }

    public const string StateRole = "state";
    public const string MembershipRole = "membership";

    private static readonly KeyValuePair<string, object?> Read = new("operation", "read");
    private static readonly KeyValuePair<string, object?> Write = new("operation", "write");

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        var started = Stopwatch.GetTimestamp();
        var answered = false;
        try
        {
            ProcessNext(message, pipeline);
            answered = true;
        }
        finally
        {
            Record(message, started, answered);
        }
    }

    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        var started = Stopwatch.GetTimestamp();
        var answered = false;
        try
        {
            await ProcessNextAsync(message, pipeline).ConfigureAwait(false);
            answered = true;
        }
        finally
        {
            Record(message, started, answered);
        }
    }

    /// <summary>Whether an answered request with <paramref name="status"/> counts as a storage failure.</summary>
    public static bool IsFailure(int status) => status is >= 500 or 408 or 429;

    private void Record(HttpMessage message, long started, bool answered)
    {
        var method = message.Request.Method;
        var operation = method == RequestMethod.Get || method == RequestMethod.Head ? Read : Write;
        FeatureStoreMetrics.AzureStorageRequests.Add(1, _role, _service, operation);
        FeatureStoreMetrics.AzureStorageDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, _role, _service, operation);
        if (!answered || !message.HasResponse || IsFailure(message.Response.Status))
        {
            FeatureStoreMetrics.AzureStorageFailures.Add(1, _role, _service, operation);
        }
    }
}
