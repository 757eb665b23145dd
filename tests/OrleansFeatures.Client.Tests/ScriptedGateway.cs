using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.Client.Tests;

/// <summary>
/// A real gRPC server (Kestrel, h2c on a free loopback port) implementing the gateway's serving and ingestion
/// services, whose answers a test scripts: each call takes the next step (fail with a status, stall, answer), so a
/// client's retries are observed on the wire, attempt by attempt.
/// </summary>
internal sealed class ScriptedGateway : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ScriptedGateway(WebApplication app, int port, Script script)
    {
        _app = app;
        Address = new Uri($"http://127.0.0.1:{port}");
        Calls = script;
    }

    public Uri Address { get; }

    public Script Calls { get; }

    public static async Task<ScriptedGateway> StartAsync()
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenLocalhost(port, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var script = new Script();
        builder.Services.AddSingleton(script);
        var app = builder.Build();
        app.MapGrpcService<Serving>();
        app.MapGrpcService<Ingestion>();
        await app.StartAsync();
        return new ScriptedGateway(app, port, script);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>What each attempt does, in order, and what the server saw.</summary>
    internal sealed class Script
    {
        private readonly ConcurrentQueue<Func<ServerCallContext, Task>> _steps = new();
        private readonly ConcurrentQueue<(string Method, DateTime At, string Connection, string? ApiKey)> _seen = new();

        public IReadOnlyList<(string Method, DateTime At, string Connection, string? ApiKey)> Seen => [.. _seen];

        public int Attempts => _seen.Count;

        public Script FailWith(StatusCode status, int times = 1)
        {
            for (var i = 0; i < times; i++)
            {
                _steps.Enqueue(_ => throw new RpcException(new Status(status, $"scripted {status}")));
            }

            return this;
        }

        /// <summary>Holds the call until the client gives up on it (its deadline), then fails it.</summary>
        public Script Stall(int times = 1)
        {
            for (var i = 0; i < times; i++)
            {
                _steps.Enqueue(async context =>
                {
                    await Task.Delay(Timeout.Infinite, context.CancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
                    throw new RpcException(new Status(StatusCode.Cancelled, "the client went away"));
                });
            }

            return this;
        }

        internal async Task RunAsync(ServerCallContext context)
        {
            var http = context.GetHttpContext();
            _seen.Enqueue((context.Method, DateTime.UtcNow, http.Connection.Id, context.RequestHeaders.GetValue("authorization")));
            if (_steps.TryDequeue(out var step))
            {
                await step(context);
            }
        }
    }

    private sealed class Serving(Script script) : FeatureServing.FeatureServingBase
    {
        public override async Task<GetOnlineFeaturesResponse> GetOnlineFeatures(GetOnlineFeaturesRequest request, ServerCallContext context)
        {
            await script.RunAsync(context);
            var response = new GetOnlineFeaturesResponse { RegistryVersion = 7 };
            response.FeatureNames.Add("v:f");
            foreach (var id in request.EntityIds)
            {
                response.Entities.Add(new EntityFeatures { EntityId = id, Values = { new FeatureValue { Value = new Value { Int64Value = id.Length }, Status = FeatureStatus.Present } } });
            }

            return response;
        }

        public override async Task<GetInferenceInputsResponse> GetInferenceInputs(GetInferenceInputsRequest request, ServerCallContext context)
        {
            await script.RunAsync(context);
            return new GetInferenceInputsResponse
            {
                RowCount = 1,
                ColumnCount = 2,
                Values = Google.Protobuf.ByteString.CopyFrom([.. BitConverter.GetBytes(1.5f), .. BitConverter.GetBytes(float.NaN)]),
                Mask = Google.Protobuf.ByteString.CopyFrom(1, 0),
                Columns = { new InferenceColumn { Name = "v:a" }, new InferenceColumn { Name = "v:b" } },
            };
        }
    }

    private sealed class Ingestion(Script script) : FeatureIngestion.FeatureIngestionBase
    {
        public override async Task<PushEventsResponse> PushEvents(PushEventsRequest request, ServerCallContext context)
        {
            await script.RunAsync(context);
            return new PushEventsResponse { Accepted = request.Events.Count };
        }
    }
}
