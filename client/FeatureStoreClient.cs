using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OrleansFeatures.V1;

namespace OrleansFeatures.Client;

/// <summary>
/// A model server's client of the feature store gateway: typed calls over the generated gRPC stubs, a deadline per
/// attempt, retries with backoff on transient statuses only (<see cref="RetryPolicy"/>), and one channel reused by
/// every call (create one per process and share it; it is thread-safe).
/// </summary>
public sealed partial class FeatureStoreClient : IDisposable
{
    private readonly GrpcChannel _channel;
    private readonly FeatureStoreClientOptions _options;
    private readonly RetryPolicy _retry;
    private readonly ILogger _logger;
    private readonly FeatureServing.FeatureServingClient _serving;
    private readonly FeatureIngestion.FeatureIngestionClient _ingestion;

    public FeatureStoreClient(FeatureStoreClientOptions options, ILogger<FeatureStoreClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = FeatureStoreClientOptionsValidator.Errors(options).ToList();
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(FeatureStoreClientOptions.Section, typeof(FeatureStoreClientOptions), errors);
        }

        _options = options;
        _logger = logger ?? NullLogger<FeatureStoreClient>.Instance;
        _retry = new RetryPolicy(options.MaxAttempts, options.InitialBackoff, options.MaxBackoff);
        _channel = GrpcChannel.ForAddress(options.Address!, new GrpcChannelOptions
        {
            // One connection pool for the process: HTTP/2 multiplexes calls on a connection and opens another only when
            // the server's concurrent-stream limit (100 on Kestrel) is reached, instead of queueing behind it.
            HttpHandler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                KeepAlivePingDelay = TimeSpan.FromSeconds(60),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
                ConnectTimeout = TimeSpan.FromSeconds(5),
            },
            DisposeHttpClient = true,
            MaxReceiveMessageSize = options.MaxReceiveMessageBytes,
        });
        var invoker = _channel.CreateCallInvoker();
        if (options.ApiKey is { } key)
        {
            var header = "ApiKey " + key;
            invoker = invoker.Intercept(metadata =>
            {
                metadata.Add("authorization", header);
                return metadata;
            });
        }

        CallInvoker = invoker;
        _serving = new FeatureServing.FeatureServingClient(invoker);
        _ingestion = new FeatureIngestion.FeatureIngestionClient(invoker);
    }

    /// <summary>
    /// The shared channel with the API key applied, for generated clients this type does not wrap (the registry,
    /// grpc.health); calls made through it get no default deadline and no retries.
    /// </summary>
    public CallInvoker CallInvoker { get; }

    /// <summary>Features of entities of one type through a feature service: its columns, in its order, with its defaults.</summary>
    public Task<GetOnlineFeaturesResponse> LookupAsync(
        string entityType, IEnumerable<string> entityIds, string featureService, TimeSpan? deadline = null, CancellationToken cancellationToken = default)
    {
        var request = new GetOnlineFeaturesRequest { EntityType = entityType, FeatureService = featureService };
        request.EntityIds.Add(entityIds);
        return GetOnlineFeaturesAsync(request, deadline, cancellationToken);
    }

    /// <summary>Features of entities of one type by reference (<c>view:feature</c>), in the order given.</summary>
    public Task<GetOnlineFeaturesResponse> LookupFeaturesAsync(
        string entityType, IEnumerable<string> entityIds, IEnumerable<string> features, TimeSpan? deadline = null, CancellationToken cancellationToken = default)
    {
        var request = new GetOnlineFeaturesRequest { EntityType = entityType, Features = new FeatureReferences() };
        request.EntityIds.Add(entityIds);
        request.Features.References.Add(features);
        return GetOnlineFeaturesAsync(request, deadline, cancellationToken);
    }

    /// <summary>GetOnlineFeatures as the proto defines it; retried on UNAVAILABLE and DEADLINE_EXCEEDED.</summary>
    public Task<GetOnlineFeaturesResponse> GetOnlineFeaturesAsync(GetOnlineFeaturesRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        CallAsync(nameof(GetOnlineFeaturesAsync), request, idempotent: true, _serving.GetOnlineFeaturesAsync, deadline, cancellationToken);

    /// <summary>
    /// A model's input matrix: one row per row of ids (an entity type given one id, such as the user of a ranking
    /// request, applies to every row), one column per column of the feature service.
    /// </summary>
    public Task<InferenceInputs> GetInferenceInputsAsync(
        string featureService, IReadOnlyDictionary<string, IReadOnlyList<string>> idsByEntityType, TimeSpan? deadline = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(idsByEntityType);
        var request = new GetInferenceInputsRequest { FeatureService = featureService };
        foreach (var (entityType, ids) in idsByEntityType)
        {
            var column = new EntityKeyColumn { EntityType = entityType };
            column.Ids.Add(ids);
            request.Entities.Add(column);
        }

        return GetInferenceInputsAsync(request, deadline, cancellationToken);
    }

    /// <summary>GetInferenceInputs as the proto defines it, answered as a matrix view; retried on UNAVAILABLE and DEADLINE_EXCEEDED.</summary>
    public async Task<InferenceInputs> GetInferenceInputsAsync(GetInferenceInputsRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        new(await CallAsync(nameof(GetInferenceInputsAsync), request, idempotent: true, _serving.GetInferenceInputsAsync, deadline, cancellationToken).ConfigureAwait(false));

    /// <summary>Pushes events of one source; one result per event. Retried on UNAVAILABLE only (repeats are absorbed by event id).</summary>
    public Task<PushEventsResponse> PushAsync(string source, IEnumerable<Event> events, TimeSpan? deadline = null, CancellationToken cancellationToken = default)
    {
        var request = new PushEventsRequest { Source = source };
        request.Events.Add(events);
        return PushEventsAsync(request, deadline, cancellationToken);
    }

    /// <summary>PushEvents as the proto defines it. A push whose deadline passed may have been applied: it is not retried.</summary>
    public Task<PushEventsResponse> PushEventsAsync(PushEventsRequest request, TimeSpan? deadline = null, CancellationToken cancellationToken = default) =>
        CallAsync(nameof(PushEventsAsync), request, idempotent: false, _ingestion.PushEventsAsync, deadline, cancellationToken);

    public void Dispose() => _channel.Dispose();

    private async Task<TResponse> CallAsync<TRequest, TResponse>(
        string name,
        TRequest request,
        bool idempotent,
        Func<TRequest, CallOptions, AsyncUnaryCall<TResponse>> call,
        TimeSpan? deadline,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var perAttempt = deadline ?? _options.DefaultDeadline;
        for (var attempt = 1; ; attempt++)
        {
            var options = new CallOptions(
                deadline: perAttempt == Timeout.InfiniteTimeSpan ? null : DateTime.UtcNow + perAttempt,
                cancellationToken: cancellationToken);
            try
            {
                using var pending = call(request, options);
                return await pending.ResponseAsync.ConfigureAwait(false);
            }
            catch (RpcException failure) when (attempt < _retry.MaxAttempts
                && RetryPolicy.IsTransient(failure.StatusCode, idempotent)
                && !cancellationToken.IsCancellationRequested)
            {
                var wait = _retry.Backoff(attempt, Random.Shared.NextDouble());
                LogRetry(_logger, name, failure.StatusCode, attempt, _retry.MaxAttempts, wait.TotalMilliseconds, failure.Status.Detail);
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Call} failed with {Status} on attempt {Attempt} of {MaxAttempts}; retrying in {WaitMs:0} ms: {Detail}")]
    private static partial void LogRetry(ILogger logger, string call, StatusCode status, int attempt, int maxAttempts, double waitMs, string detail);
}
