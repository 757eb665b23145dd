using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Net.Client;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>Who may call what, over gRPC against the real gateway: the permission matrix, entity-type scope, TLS, endpoints.</summary>
public sealed class AccessControlEndToEndTests
{
    private static readonly string[] NoScope = [];

    /// <summary>Every RPC of gateway/Protos, as valid calls that succeed when allowed.</summary>
    private static readonly Dictionary<string, Func<GatewayClient, Metadata, Task>> Rpcs = new()
    {
        ["GetOnlineFeatures"] = async (c, h) => await c.Serving.GetOnlineFeaturesAsync(Lookup("user"), h),
        ["GetInferenceInputs"] = async (c, h) => await c.Serving.GetInferenceInputsAsync(Inference("ranker"), h),
        ["PushEvents"] = async (c, h) => await c.Ingestion.PushEventsAsync(Events.Push(Events.Play(Guid.NewGuid().ToString("N"), "u1", DateTimeOffset.UtcNow, "f1", "view", 3)), h),
        ["ApplyDefinitions"] = async (c, h) => await c.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request(), h),
        ["ListDefinitions"] = async (c, h) => await c.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), h),
        ["GetDefinitions"] = async (c, h) => await c.Registry.GetDefinitionsAsync(new GetDefinitionsRequest(), h),
        ["GetFeatureView"] = async (c, h) => await c.Registry.GetFeatureViewAsync(new GetFeatureViewRequest { Name = "user_plays" }, h),
        ["GetFeatureService"] = async (c, h) => await c.Registry.GetFeatureServiceAsync(new GetFeatureServiceRequest { Name = "ranker" }, h),
    };

    /// <summary>Which RPCs each permission allows; anything else is PERMISSION_DENIED.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["read"] = ["GetOnlineFeatures", "GetInferenceInputs", "ListDefinitions", "GetDefinitions", "GetFeatureView", "GetFeatureService"],
        ["write"] = ["PushEvents"],
        ["admin"] = ["ApplyDefinitions"],
    };

    [Fact]
    public async Task Each_permission_allows_exactly_its_rpcs_and_a_missing_or_invalid_key_is_unauthenticated()
    {
        using var temp = new TempDirectory();
        await using var gateway = await StartWithKeysAsync(temp.Path);
        using var client = new GatewayClient(gateway);

        var failures = await RunMatrixAsync(client);

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task The_matrix_holds_over_tls_and_a_plaintext_client_cannot_talk_to_the_tls_endpoint()
    {
        using var temp = new TempDirectory();
        using var certificate = SelfSignedCertificate();
        var pfx = Path.Combine(temp.Path, "gateway.pfx");
        await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "test-password"));
        var port = FreePort.Next();
        await using var gateway = await StartWithKeysAsync(
            temp.Path,
            $"--Kestrel:Endpoints:Tls:Url=https://127.0.0.1:{port}",
            "--Kestrel:Endpoints:Tls:Protocols=Http2",
            $"--Kestrel:Endpoints:Tls:Certificate:Path={pfx}",
            "--Kestrel:Endpoints:Tls:Certificate:Password=test-password");
        var thumbprint = certificate.GetCertHashString(HashAlgorithmName.SHA256);
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, presented, _, _) =>
                    presented is not null && string.Equals(presented.GetCertHashString(HashAlgorithmName.SHA256), thumbprint, StringComparison.Ordinal),
            },
        };
        using var client = new GatewayClient(new Uri($"https://127.0.0.1:{port}"), handler);

        var failures = await RunMatrixAsync(client);
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        using var plaintext = new GatewayClient(new Uri($"http://127.0.0.1:{port}"));
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
            await plaintext.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), ApiKeys.Header("reader"), deadline: DateTime.UtcNow.AddSeconds(10)));
        Assert.NotEqual(StatusCode.OK, refused.StatusCode);
    }

    [Fact]
    public async Task A_scoped_key_is_refused_alike_for_other_and_unknown_entity_types_and_sources()
    {
        using var temp = new TempDirectory();
        await using var gateway = await StartWithKeysAsync(temp.Path);
        using var client = new GatewayClient(gateway);

        await client.Serving.GetOnlineFeaturesAsync(Lookup("user"), ApiKeys.Header("user-reader"));
        await client.Serving.GetInferenceInputsAsync(Inference("ranker"), ApiKeys.Header("user-reader"));
        var unknownService = await Refused(() => client.Serving.GetInferenceInputsAsync(Inference("ghost"), ApiKeys.Header("user-reader")));
        var otherType = await Refused(() => client.Serving.GetOnlineFeaturesAsync(Lookup("article"), ApiKeys.Header("user-reader")));
        var unknownType = await Refused(() => client.Serving.GetOnlineFeaturesAsync(Lookup("ghost"), ApiKeys.Header("user-reader")));
        var registry = await Refused(() => client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), ApiKeys.Header("user-reader")));

        var play = Events.Play("scoped-1", "u2", DateTimeOffset.UtcNow, "f1", "view", 1);
        var pushed = await client.Ingestion.PushEventsAsync(Events.Push(play), ApiKeys.Header("user-writer"));
        var otherSource = await Refused(() => client.Ingestion.PushEventsAsync(Events.Push(play), ApiKeys.Header("article-writer")));
        var unknownSource = await Refused(() => client.Ingestion.PushEventsAsync(new PushEventsRequest { Source = "ghost", Events = { play } }, ApiKeys.Header("article-writer")));

        Assert.Equal(1, pushed.Accepted);
        Assert.All([otherType, unknownType, registry, otherSource, unknownSource, unknownService], e => Assert.Equal(StatusCode.PermissionDenied, e.StatusCode));
        Assert.Equal(otherType.Status.Detail, unknownType.Status.Detail);
        Assert.Equal(otherSource.Status.Detail, unknownSource.Status.Detail);

        // Without scope the unknown type is NOT_FOUND: the scoped refusal above is what hides it.
        var unscoped = await Refused(() => client.Serving.GetOnlineFeaturesAsync(Lookup("ghost"), ApiKeys.Header("reader")));
        Assert.Equal(StatusCode.NotFound, unscoped.StatusCode);
    }

    [Fact]
    public async Task The_key_may_come_in_x_api_key_and_a_wrong_scheme_counts_as_missing()
    {
        using var temp = new TempDirectory();
        await using var gateway = await StartWithKeysAsync(temp.Path);
        using var client = new GatewayClient(gateway);

        await client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), new Metadata { { "x-api-key", ApiKeys.Secret("reader") } });
        var bearer = await Refused(() => client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), new Metadata { { "authorization", "Bearer " + ApiKeys.Secret("reader") } }));

        Assert.Equal(StatusCode.Unauthenticated, bearer.StatusCode);
        Assert.DoesNotContain(ApiKeys.Secret("reader"), gateway.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_stays_open_with_keys_required()
    {
        using var temp = new TempDirectory();
        await using var gateway = await StartWithKeysAsync(temp.Path);
        using var client = new GatewayClient(gateway);

        var health = await client.Health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest());

        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }

    [Fact]
    public async Task Without_keys_and_without_mode_none_start_up_fails_naming_the_setting()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path) { AuthOff = false };

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync());

        Assert.Contains("FeatureStore:Auth:ApiKeys", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Registry_on_its_own_endpoint_is_not_served_on_the_serving_endpoint()
    {
        using var temp = new TempDirectory();
        var adminPort = FreePort.Next();
        await using var gateway = new GatewayProcess(
            temp.Path,
            $"--Kestrel:Endpoints:Admin:Url=http://127.0.0.1:{adminPort}",
            "--Kestrel:Endpoints:Admin:Protocols=Http2",
            "--FeatureStore:Endpoints:Serving=Grpc",
            "--FeatureStore:Endpoints:Ingestion=Grpc",
            "--FeatureStore:Endpoints:Admin=Admin");
        await gateway.StartAsync();
        using var serving = new GatewayClient(gateway);
        using var admin = new GatewayClient(new Uri($"http://127.0.0.1:{adminPort}"));

        await admin.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
        var applyOnServing = await Refused(() => serving.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request()));
        var lookupOnAdmin = await Refused(() => admin.Serving.GetOnlineFeaturesAsync(Lookup("user")));
        await serving.Serving.GetOnlineFeaturesAsync(Lookup("user"));

        Assert.Equal(StatusCode.Unimplemented, applyOnServing.StatusCode);
        Assert.Equal(StatusCode.Unimplemented, lookupOnAdmin.StatusCode);
    }

    [Fact]
    public async Task Keys_in_the_keys_file_reload_without_a_restart_a_new_key_accepted_and_a_removed_one_refused()
    {
        using var temp = new TempDirectory();
        var keysFile = Path.Combine(temp.Path, "api-keys.json");
        await WriteKeysFileAsync(keysFile, "before");
        await using var gateway = new GatewayProcess(temp.Path, $"--FeatureStore:Auth:ApiKeysFile={keysFile}") { AuthOff = false };
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), ApiKeys.Header("before"));
        var processId = gateway.ProcessId;

        await WriteKeysFileAsync(keysFile, "after");

        await Poll.UntilAsync(
            async () => await Status(() => client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), ApiKeys.Header("after"))),
            status => status == StatusCode.OK,
            TimeSpan.FromSeconds(20),
            "the added key to be accepted");
        var removed = await Refused(() => client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), ApiKeys.Header("before")));
        Assert.Equal(StatusCode.Unauthenticated, removed.StatusCode);
        Assert.Equal(processId, gateway.ProcessId);

        // A broken write keeps the keys in force instead of revoking them all.
        await File.WriteAllTextAsync(keysFile, "{ \"FeatureStore\": ");
        await Poll.UntilAsync(() => Task.FromResult(gateway.Output), output => output.Contains("API keys not reloaded", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "the failed reload to be logged");
        await client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), ApiKeys.Header("after"));
    }

    private static GetInferenceInputsRequest Inference(string service) =>
        new() { FeatureService = service, Entities = { new EntityKeyColumn { EntityType = "user", Ids = { "u1" } } } };

    private static async Task<GatewayProcess> StartWithKeysAsync(string dataDirectory, params string[] extraArgs)
    {
        var keys = ApiKeys.Arguments(
            ("setup", ["read", "write", "admin"], NoScope),
            ("reader", ["read"], NoScope),
            ("writer", ["write"], NoScope),
            ("admin", ["admin"], NoScope),
            ("user-reader", ["read"], ["user"]),
            ("user-writer", ["write"], ["user"]),
            ("article-writer", ["write"], ["article"]));
        var gateway = new GatewayProcess(dataDirectory, [.. keys, .. extraArgs]) { AuthOff = false };
        try
        {
            await gateway.StartAsync();
            using var client = new GatewayClient(gateway);
            await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request(), ApiKeys.Header("setup"));
            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }
    }

    /// <summary>Every (credential, RPC) pair against its expected status; the list of mismatches.</summary>
    private static async Task<List<string>> RunMatrixAsync(GatewayClient client)
    {
        var credentials = new (string Name, Metadata Headers, Func<string, StatusCode> Expected)[]
        {
            ("no key", [], _ => StatusCode.Unauthenticated),
            ("invalid key", new Metadata { { "authorization", "ApiKey not-a-configured-key" } }, _ => StatusCode.Unauthenticated),
            ("read", ApiKeys.Header("reader"), rpc => Allowed["read"].Contains(rpc) ? StatusCode.OK : StatusCode.PermissionDenied),
            ("write", ApiKeys.Header("writer"), rpc => Allowed["write"].Contains(rpc) ? StatusCode.OK : StatusCode.PermissionDenied),
            ("admin", ApiKeys.Header("admin"), rpc => Allowed["admin"].Contains(rpc) ? StatusCode.OK : StatusCode.PermissionDenied),
        };
        var failures = new List<string>();
        foreach (var (name, headers, expected) in credentials)
        {
            foreach (var (rpc, call) in Rpcs)
            {
                StatusCode actual;
                try
                {
                    await call(client, headers);
                    actual = StatusCode.OK;
                }
                catch (RpcException e)
                {
                    actual = e.StatusCode;
                }

                if (actual != expected(rpc))
                {
                    failures.Add($"{name} × {rpc}: expected {expected(rpc)}, got {actual}");
                }
            }
        }

        return failures;
    }

    /// <summary>Writes a keys file holding one read key, whole: to a temporary file renamed over the old one, as docs/security.md advises.</summary>
    private static async Task WriteKeysFileAsync(string path, string keyName)
    {
        var settings = new JsonObject();
        var keys = new JsonArray();
        keys.Add(new JsonObject
        {
            ["Name"] = keyName,
            ["Hash"] = ApiKeys.Hash(keyName),
            ["Permissions"] = new JsonArray("read"),
        });
        settings["FeatureStore"] = new JsonObject { ["Auth"] = new JsonObject { ["ApiKeys"] = keys } };
        var temporary = path + ".tmp";
        await File.WriteAllTextAsync(temporary, settings.ToJsonString());
        File.Move(temporary, path, overwrite: true);
    }

    private static async Task<StatusCode> Status<T>(Func<AsyncUnaryCall<T>> call)
    {
        try
        {
            await call();
            return StatusCode.OK;
        }
        catch (RpcException refused)
        {
            return refused.StatusCode;
        }
    }

    private static async Task<RpcException> Refused<T>(Func<AsyncUnaryCall<T>> call) =>
        await Assert.ThrowsAsync<RpcException>(async () => await call());

    private static GetOnlineFeaturesRequest Lookup(string entityType) =>
        new() { EntityType = entityType, EntityIds = { "u1" }, FeatureService = "ranker" };

    private static X509Certificate2 SelfSignedCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
    }
}
