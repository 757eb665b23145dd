using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OrleansFeatures.Grains.Hosting;

// A headless silo: hosts entity grains and ingestion without the gRPC front end. Gateways and silos of one
// cluster share FeatureStore:ClusterId and clustering; this process adds grain capacity when scaling out.
var builder = Host.CreateApplicationBuilder(args);
builder.UseOrleans(silo => silo.AddFeatureStore(builder.Configuration));
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
await builder.Build().RunAsync();
