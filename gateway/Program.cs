using Grpc.AspNetCore.Server;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OrleansFeatures.Gateway;
using OrleansFeatures.Gateway.Demo;
using OrleansFeatures.Gateway.Diagnostics;
using OrleansFeatures.Gateway.Security;
using OrleansFeatures.Gateway.Services;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.ServiceDefaults;

// Content root = the binaries, where appsettings.json is, not the working directory: the host watches its content
// root recursively to reload settings, and with the SQLite state under the working directory (./data by default)
// every state write woke that watcher (2% of the CPU while ingesting, and a FileInfo per write).
// "--demo" is a switch, not a setting: left in the arguments, the command-line provider would take the argument after
// it as its value and drop that setting.
var demo = args.Contains("--demo", StringComparer.Ordinal);
var settings = Array.FindAll(args, arg => !string.Equals(arg, "--demo", StringComparison.Ordinal));
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = settings, ContentRootPath = AppContext.BaseDirectory });
if (demo)
{
    builder.Configuration["FeatureStore:Demo:Enabled"] = "true";
}

// Authentication is on unless chosen off; only the local quickstart (--demo, Development) turns it off by itself, and says so.
var authOffByDefault = builder.Configuration[$"{AuthOptions.Section}:Mode"] is null && (demo || builder.Environment.IsDevelopment());
if (authOffByDefault)
{
    builder.Configuration[$"{AuthOptions.Section}:Mode"] = nameof(AuthMode.None);
}

// Keys in a watched file reload without a restart (docs/security.md, "Rotating a key").
var apiKeysFile = new ApiKeysFile();
apiKeysFile.AddTo(builder.Configuration);

var reflection = builder.Configuration.GetValue<bool?>("FeatureStore:Reflection:Enabled") ?? builder.Environment.IsDevelopment();

builder.Host.UseOrleans(silo => silo.AddFeatureStore(builder.Configuration));
builder.AddFeatureStoreServiceDefaults("orleansfeatures-gateway");
builder.Services.AddSingleton(TimeProvider.System);

builder.Services.AddOptions<GatewayLimits>().BindConfiguration(GatewayLimits.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).ValidateOnStart();
builder.Services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidator>();
builder.Services.AddSingleton(sp => new ApiKeyRing(sp.GetRequiredService<IOptions<AuthOptions>>().Value.ApiKeys));
builder.Services.AddSingleton(apiKeysFile);
builder.Services.AddHostedService<ApiKeyReloader>();
if (builder.Configuration.GetValue<AuthMode>($"{AuthOptions.Section}:Mode").AcceptsJwt())
{
    builder.Services.AddSingleton(sp => new BearerTokenValidator(sp.GetRequiredService<IOptions<AuthOptions>>().Value.Jwt, sp.GetRequiredService<TimeProvider>()));
}

builder.Services.AddOptions<EndpointRoleOptions>().BindConfiguration(EndpointRoleOptions.Section).ValidateOnStart();
builder.Services.AddSingleton<IValidateOptions<EndpointRoleOptions>, EndpointRoleOptionsValidator>();
builder.Services.AddSingleton<EndpointRoles>();
builder.Services.AddSingleton<AccessControlInterceptor>();
// Stateless: one instance serves every lookup instead of one activated (with its five dependencies) per call.
builder.Services.AddSingleton<FeatureServingService>();
builder.Services.AddSingleton<ClusterFailureInterceptor>();
// JSON transcoding serves the google.api.http routes of gateway/Protos (docs/http-json.md) through the same services
// and interceptors as gRPC, so API keys, endpoint roles, validation and the cluster-failure statuses (UNAVAILABLE = 503)
// apply to both alike; the cluster-failure mapping is outermost, so it also covers the access check's catalog refresh.
// An INVALID_ARGUMENT carries google.rpc.BadRequest in its details: the JSON error body can only show it with the type
// registered.
builder.Services.AddGrpc(grpc =>
    {
        grpc.Interceptors.Add<ClusterFailureInterceptor>();
        grpc.Interceptors.Add<AccessControlInterceptor>();
        grpc.Interceptors.Add<RequestBoundsInterceptor>();
    })
    .AddJsonTranscoding(json => json.TypeRegistry = Google.Protobuf.Reflection.TypeRegistry.FromMessages(Google.Rpc.BadRequest.Descriptor));
builder.Services.AddOptions<GrpcServiceOptions>().Configure<IOptions<GatewayLimits>>((grpc, limits) =>
{
    grpc.MaxReceiveMessageSize = limits.Value.MaxReceiveMessageBytes;
    grpc.EnableDetailedErrors = false;
});
if (reflection)
{
    builder.Services.AddGrpcReflection();
}

builder.Services.AddGrpcHealthChecks()
    .AddCheck<RegistryHealthCheck>("registry", tags: [HealthTags.Ready]);
if (!string.IsNullOrWhiteSpace(builder.Configuration["FeatureStore:Kafka:BootstrapServers"]))
{
    // Its own tag: lookups and Direct pushes stay ready while the brokers are down (/healthz/ingestion reports it).
    builder.Services.AddHealthChecks().AddCheck<KafkaIngestionHealthCheck>("kafka", tags: ["ingestion"]);
}

builder.Services.Configure<HealthCheckPublisherOptions>(o =>
{
    o.Delay = TimeSpan.FromSeconds(1);
    o.Period = TimeSpan.FromSeconds(5);
});
builder.Services.AddHostedService<HealthPublishOnStart>();
builder.Services.Configure<Grpc.AspNetCore.HealthChecks.GrpcHealthChecksOptions>(o =>
{
    // grpc.health.v1 answers from the last published result (every 5 s), so probes never load the cluster.
    o.UseHealthChecksCache = true;
    o.Services.Map("", r => r.Tags.Contains(HealthTags.Ready));
    o.Services.Map("orleansfeatures.v1.FeatureServing", r => r.Tags.Contains(HealthTags.Ready));
});

builder.Services.AddOptions<DemoOptions>().BindConfiguration(DemoOptions.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddHostedService<DemoEventGenerator>();
var stallTrace = StallTrace.IsEnabled(builder.Configuration);
if (stallTrace)
{
    builder.Services.AddSingleton<StallTrace>();
    builder.Services.AddHostedService(sp => sp.GetRequiredService<StallTrace>());
}

var app = builder.Build();
if (stallTrace)
{
    // Outermost, so a request's time includes everything the gateway does with it after Kestrel dispatches it.
    var trace = app.Services.GetRequiredService<StallTrace>();
    app.Use((context, next) => trace.TimeAsync(context, next));
}

app.UseMiddleware<ConnectionDrain>();
app.UseMiddleware<StrictJsonRequests>();
app.MapGrpcService<FeatureServingService>();
app.MapGrpcService<FeatureIngestionService>();
app.MapGrpcService<FeatureRegistryService>();
app.MapGrpcHealthChecksService();
if (reflection)
{
    app.MapGrpcReflectionService();
}

SecurityStartupReport.Log(
    app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SecurityStartupReport)),
    app.Configuration,
    builder.Configuration.GetValue<AuthMode>($"{AuthOptions.Section}:Mode"),
    authOffByDefault,
    builder.Configuration.GetSection($"{AuthOptions.Section}:ApiKeys").GetChildren().Count(),
    builder.Configuration[$"{JwtOptions.Section}:Issuer"],
    reflection);
app.MapFeatureStoreDefaultEndpoints();
app.MapHealthChecks("/healthz/ingestion", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions
{
    Predicate = r => r.Tags.Contains(HealthTags.Ready) || r.Tags.Contains("ingestion"),
    ResponseWriter = HealthReportText.WriteAsync,
});
app.Run();

/// <summary>Exposed so end-to-end tests can reference the gateway assembly.</summary>
public partial class Program;
