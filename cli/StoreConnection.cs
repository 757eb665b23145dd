using Grpc.Core;
using Grpc.Net.Client;
using OrleansFeatures.V1;

namespace OrleansFeatures.Cli;

/// <summary>The gRPC clients of one feature store gateway, with the API key (if any) on every call.</summary>
public sealed class StoreConnection : IDisposable
{
    private readonly GrpcChannel _channel;

    public StoreConnection(string address, string? apiKey)
    {
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"--address '{address}' is not an http:// or https:// URL");
        }

        var options = new GrpcChannelOptions { MaxReceiveMessageSize = 64 * 1024 * 1024 };
        if (!string.IsNullOrEmpty(apiKey))
        {
            var credentials = CallCredentials.FromInterceptor((_, metadata) =>
            {
                metadata.Add("x-api-key", apiKey);
                return Task.CompletedTask;
            });
            options.Credentials = ChannelCredentials.Create(uri.Scheme == "https" ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure, credentials);
            options.UnsafeUseInsecureChannelCallCredentials = uri.Scheme == "http";
        }

        _channel = GrpcChannel.ForAddress(uri, options);
        Registry = new FeatureRegistry.FeatureRegistryClient(_channel);
        Serving = new FeatureServing.FeatureServingClient(_channel);
        Ingestion = new FeatureIngestion.FeatureIngestionClient(_channel);
    }

    public FeatureRegistry.FeatureRegistryClient Registry { get; }

    public FeatureServing.FeatureServingClient Serving { get; }

    public FeatureIngestion.FeatureIngestionClient Ingestion { get; }

    public void Dispose() => _channel.Dispose();
}
