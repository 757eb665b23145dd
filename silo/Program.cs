using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.ServiceDefaults;

// A worker silo: hosts entity grains and ingestion without the gRPC front end, and serves only its health probes and
// /metrics over HTTP. Gateways and workers of one cluster share FeatureStore:ClusterId and FeatureStore:Mode.
// Content root = the binaries, where appsettings.json is (as in the gateway: state files never wake a watcher).
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Host.UseOrleans(silo => silo.AddFeatureStore(builder.Configuration));
builder.AddFeatureStoreServiceDefaults("orleansfeatures-silo");
var app = builder.Build();
app.MapFeatureStoreDefaultEndpoints();
await app.RunAsync();
