using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using OrleansFeatures.Gateway.Services;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.Gateway.Tests.Services;

/// <summary>
/// Every Orleans failure that means "try again" reaches a caller as a status the shipped client retries: each exception
/// type is thrown by a stub lookup service behind the interceptor on a real loopback Kestrel, over gRPC and HTTP/JSON.
/// A lookup is retried inside the gateway for up to 1.5 s first, so each retryable case takes that long.
/// </summary>
public sealed class ClusterFailureInterceptorTests : IAsyncLifetime
{
    private readonly int _grpcPort = FreePort.Next();
    private readonly int _httpPort = FreePort.Next();
    private WebApplication? _app;
    private GrpcChannel? _channel;

    public static TheoryData<string> RetryableFailures() =>
    [
        nameof(SiloUnavailableException),
        "SiloUnavailableException (local host shutting down)",
        "SiloUnavailableException (placement: silo is shutting down)",
        nameof(OrleansMessageRejectionException),
        nameof(GatewayTooBusyException),
        nameof(LimitExceededException),
        nameof(ClientNotAvailableException),
        nameof(OrleansLifecycleCanceledException),
        "OperationCanceledException (not the caller's)",
        "OrleansException wrapping SiloUnavailableException",
    ];

    private static Exception Create(string name) => name switch
    {
        nameof(SiloUnavailableException) => new SiloUnavailableException("The target silo became unavailable for message: Request [S1 ...]"),
        "SiloUnavailableException (local host shutting down)" => new SiloUnavailableException("The local Orleans host is shutting down and can no longer process the request"),
        "SiloUnavailableException (placement: silo is shutting down)" => new SiloUnavailableException("Silo 'S127.0.0.1:11111:1' is shutting down."),
        nameof(OrleansMessageRejectionException) => Internal<OrleansMessageRejectionException>("Forwarding failed: tried to forward message ... for 2 times"),
        nameof(GatewayTooBusyException) => new GatewayTooBusyException(),
        nameof(LimitExceededException) => new LimitExceededException("Target activation is overloaded"),
        nameof(ClientNotAvailableException) => Internal<ClientNotAvailableException>("client gone"),
        nameof(OrleansLifecycleCanceledException) => Internal<OrleansLifecycleCanceledException>("lifecycle canceled"),
        "OperationCanceledException (not the caller's)" => new OperationCanceledException("Shutting down"),
        "OrleansException wrapping SiloUnavailableException" => new OrleansException("grain call failed", new SiloUnavailableException()),
        "TimeoutException" => new TimeoutException("Response did not arrive on time in '00:00:30' for message"),
        _ => new InvalidOperationException(name),
    };

    // Orleans creates these inside its runtime only (their constructors are internal).
    private static T Internal<T>(string message) where T : Exception =>
        (T)Activator.CreateInstance(typeof(T), BindingFlags.Instance | BindingFlags.NonPublic, null, [message], CultureInfo.InvariantCulture)!;

    private static readonly Method<GetOnlineFeaturesRequest, GetOnlineFeaturesResponse> Lookup = new(
        MethodType.Unary,
        "orleansfeatures.v1.FeatureServing",
        "GetOnlineFeatures",
        Marshallers.Create(r => r.ToByteArray(), GetOnlineFeaturesRequest.Parser.ParseFrom),
        Marshallers.Create(r => r.ToByteArray(), GetOnlineFeaturesResponse.Parser.ParseFrom));

    private Task<GetOnlineFeaturesResponse> LookupAsync(TimeSpan? deadline = null) =>
        _channel!.CreateCallInvoker().AsyncUnaryCall(Lookup, null, new CallOptions(deadline: deadline is { } d ? DateTime.UtcNow + d : null), new GetOnlineFeaturesRequest()).ResponseAsync;

    [Theory]
    [MemberData(nameof(RetryableFailures))]
    public async Task A_retryable_cluster_failure_answers_UNAVAILABLE_over_gRPC(string failure)
    {
        StubServing.Throw = () => Create(failure);
        var error = await Assert.ThrowsAsync<RpcException>(() => LookupAsync());

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.DoesNotContain("Request [", error.Status.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(RetryableFailures))]
    public async Task A_retryable_cluster_failure_answers_503_over_HTTP_JSON(string failure)
    {
        StubServing.Throw = () => Create(failure);
        using var http = new HttpClient();

        using var response = await http.PostAsync($"http://127.0.0.1:{_httpPort}/v1/features:lookup", new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    [Fact]
    public async Task A_lookup_whose_silo_fails_over_within_its_deadline_is_answered_without_an_error()
    {
        var failures = 3;
        StubServing.Throw = () => Interlocked.Decrement(ref failures) >= 0 ? new SiloUnavailableException("The target silo became unavailable") : null;

        var response = await LookupAsync();

        Assert.NotNull(response);
        Assert.Equal(-1, failures);
    }

    [Fact]
    public async Task A_lookup_still_failing_near_its_deadline_answers_UNAVAILABLE_before_the_deadline()
    {
        StubServing.Throw = () => new SiloUnavailableException("The target silo became unavailable");

        var error = await Assert.ThrowsAsync<RpcException>(() => LookupAsync(TimeSpan.FromSeconds(1)));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }

    [Fact]
    public async Task A_grain_call_timeout_answers_DEADLINE_EXCEEDED_which_the_client_retries_for_reads_only()
    {
        StubServing.Throw = () => Create("TimeoutException");
        var error = await Assert.ThrowsAsync<RpcException>(() => LookupAsync());

        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
    }

    [Fact]
    public async Task Any_other_failure_is_left_to_gRPC_as_UNKNOWN()
    {
        StubServing.Throw = () => new InvalidOperationException("a bug");
        var error = await Assert.ThrowsAsync<RpcException>(() => LookupAsync());

        Assert.Equal(StatusCode.Unknown, error.StatusCode);
    }

    [Fact]
    public async Task A_status_the_service_chose_passes_unchanged()
    {
        StubServing.Throw = () => new RpcException(new Status(StatusCode.NotFound, "no such view"));
        var error = await Assert.ThrowsAsync<RpcException>(() => LookupAsync());

        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, _grpcPort, o => o.Protocols = HttpProtocols.Http2);
            kestrel.Listen(IPAddress.Loopback, _httpPort, o => o.Protocols = HttpProtocols.Http1);
        });
        builder.Services.AddSingleton<ClusterFailureInterceptor>();
        builder.Services.AddGrpc(grpc => grpc.Interceptors.Add<ClusterFailureInterceptor>()).AddJsonTranscoding();
        _app = builder.Build();
        _app.MapGrpcService<StubServing>();
        await _app.StartAsync();
        _channel = GrpcChannel.ForAddress($"http://127.0.0.1:{_grpcPort}");
    }

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private sealed class StubServing : FeatureServing.FeatureServingBase
    {
        // One test runs at a time in this class (xunit runs a class's tests in sequence).
        /// <summary>What each call throws; null answers it.</summary>
        public static Func<Exception?> Throw { get; set; } = () => new InvalidOperationException("not set");

        public override Task<GetOnlineFeaturesResponse> GetOnlineFeatures(GetOnlineFeaturesRequest request, ServerCallContext context) =>
            Throw() is { } failure ? Task.FromException<GetOnlineFeaturesResponse>(failure) : Task.FromResult(new GetOnlineFeaturesResponse());
    }
}
