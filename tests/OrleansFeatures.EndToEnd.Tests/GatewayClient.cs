using Grpc.Net.Client;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>The three gRPC clients of one gateway process.</summary>
internal sealed class GatewayClient : IDisposable
{
    private readonly GrpcChannel _channel;

    public GatewayClient(GatewayProcess gateway)
        : this(gateway.GrpcAddress)
    {
    }

    /// <summary>A client of any endpoint of the gateway, through <paramref name="handler"/> when given (TLS trust).</summary>
    public GatewayClient(Uri address, HttpMessageHandler? handler = null)
    {
        _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = false });
        Serving = new FeatureServing.FeatureServingClient(_channel);
        Ingestion = new FeatureIngestion.FeatureIngestionClient(_channel);
        Registry = new FeatureRegistry.FeatureRegistryClient(_channel);
        Health = new Grpc.Health.V1.Health.HealthClient(_channel);
    }

    public FeatureServing.FeatureServingClient Serving { get; }

    public FeatureIngestion.FeatureIngestionClient Ingestion { get; }

    public FeatureRegistry.FeatureRegistryClient Registry { get; }

    public Grpc.Health.V1.Health.HealthClient Health { get; }

    /// <summary>For calls the generated clients cannot make, such as a body of raw bytes.</summary>
    public Grpc.Core.CallInvoker Invoker => _channel.CreateCallInvoker();

    public void Dispose() => _channel.Dispose();
}

/// <summary>Calls the generated clients spell out.</summary>
internal static class RegistryClientExtensions
{
    /// <summary>ApplyDefinitions as a dry run (validate_only): the checks and the plan, nothing applied.</summary>
    public static Grpc.Core.AsyncUnaryCall<ApplyDefinitionsResponse> ValidateDefinitionsAsync(
        this FeatureRegistry.FeatureRegistryClient registry, ApplyDefinitionsRequest request, Grpc.Core.Metadata? headers = null)
    {
        request.ValidateOnly = true;
        return registry.ApplyDefinitionsAsync(request, headers);
    }
}
