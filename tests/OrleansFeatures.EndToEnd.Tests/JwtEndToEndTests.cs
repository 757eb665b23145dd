using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Grpc.Core;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>JWT bearer tokens against the real gateway, beside API keys: tokens minted by a local issuer whose keys the gateway reads from a JWKS file.</summary>
public sealed class JwtEndToEndTests
{
    [Fact]
    public async Task A_valid_token_reads_and_an_api_key_still_works_beside_it()
    {
        using var temp = new TempDirectory();
        using var issuer = new TestTokenIssuer();
        await using var gateway = await StartAsync(temp.Path, issuer);
        using var client = new GatewayClient(gateway);

        var lookup = await client.Serving.GetOnlineFeaturesAsync(Lookup("user"), Bearer(issuer.Mint(roles: ["read"])));
        var definitions = await client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), Bearer(issuer.Mint(scp: "openid read")));
        var pushed = await client.Ingestion.PushEventsAsync(
            Events.Push(Events.Play(Guid.NewGuid().ToString("N"), "u1", DateTimeOffset.UtcNow, "f1", "view", 3)),
            Bearer(issuer.Mint(roles: ["write", "entity:user"])));
        await client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), ApiKeys.Header("setup"));

        Assert.Single(lookup.Entities);
        Assert.Equal(1, definitions.RegistryVersion);
        Assert.Equal(1, pushed.Accepted);
    }

    [Fact]
    public async Task Expired_wrong_issuer_wrong_audience_and_foreign_tokens_are_unauthenticated_saying_why_and_never_echoed()
    {
        using var temp = new TempDirectory();
        using var issuer = new TestTokenIssuer();
        using var stranger = new TestTokenIssuer();
        await using var gateway = await StartAsync(temp.Path, issuer);
        using var client = new GatewayClient(gateway);
        var expiry = DateTimeOffset.UtcNow.AddMinutes(-5);
        var cases = new (string Token, string Detail)[]
        {
            (issuer.Mint(roles: ["read"], expires: expiry), $"the bearer token expired at {expiry.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}"),
            (issuer.Mint(roles: ["read"], issuer: "https://elsewhere.test/"), "the bearer token was not issued by the accepted issuer (FeatureStore:Auth:Jwt:Issuer)"),
            (issuer.Mint(roles: ["read"], audience: "api://another-service"), "the bearer token is not meant for this audience (FeatureStore:Auth:Jwt:Audience)"),
            (stranger.Mint(roles: ["read"]), "the bearer token's signature does not verify with the issuer's signing keys"),
        };

        foreach (var (token, detail) in cases)
        {
            var refused = await Refused(() => client.Serving.GetOnlineFeaturesAsync(Lookup("user"), Bearer(token)));

            Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
            Assert.Equal(detail, refused.Status.Detail);
            Assert.DoesNotContain(token, gateway.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_token_lacking_the_role_or_out_of_its_entity_scope_is_permission_denied_naming_what_it_lacks()
    {
        using var temp = new TempDirectory();
        using var issuer = new TestTokenIssuer();
        await using var gateway = await StartAsync(temp.Path, issuer);
        using var client = new GatewayClient(gateway);
        var reader = Bearer(issuer.Mint(roles: ["read"], subject: "ranker"));

        var push = await Refused(() => client.Ingestion.PushEventsAsync(Events.Push(Events.Play("x1", "u1", DateTimeOffset.UtcNow, "f1", "view", 1)), reader));
        var apply = await Refused(() => client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request(), reader));
        var scoped = await Refused(() => client.Serving.GetOnlineFeaturesAsync(Lookup("user"), Bearer(issuer.Mint(roles: ["read", "entity:article"], subject: "articles"))));

        Assert.All([push, apply, scoped], e => Assert.Equal(StatusCode.PermissionDenied, e.StatusCode));
        Assert.Equal("the bearer token of 'ranker' lacks the write permission: it needs the role or scope 'write'", push.Status.Detail);
        Assert.Equal("the bearer token of 'ranker' lacks the admin permission: it needs the role or scope 'admin'", apply.Status.Detail);
        Assert.Equal("the bearer token of 'articles' is limited to other entity types", scoped.Status.Detail);
    }

    [Fact]
    public async Task Http_json_answers_401_for_an_expired_token_and_403_for_a_missing_role()
    {
        using var temp = new TempDirectory();
        using var issuer = new TestTokenIssuer();
        await using var gateway = await StartAsync(temp.Path, issuer);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var ok = await LookupOverHttpAsync(http, issuer.Mint(roles: ["read"]));
        var expired = await LookupOverHttpAsync(http, issuer.Mint(roles: ["read"], expires: DateTimeOffset.UtcNow.AddMinutes(-5)));
        var missingRole = await LookupOverHttpAsync(http, issuer.Mint(roles: ["write"]));

        Assert.Equal(HttpStatusCode.OK, ok.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, expired.Status);
        Assert.Contains("the bearer token expired at", expired.Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, missingRole.Status);
        Assert.Contains("it needs the role or scope 'read'", missingRole.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jwt_mode_without_an_issuer_fails_start_up_naming_the_setting()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path, "--FeatureStore:Auth:Mode=Jwt", "--FeatureStore:Auth:Jwt:Audience=api://x") { AuthOff = false };

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => gateway.StartAsync());

        Assert.Contains("FeatureStore:Auth:Jwt:Issuer", refused.Message, StringComparison.Ordinal);
    }

    private static async Task<GatewayProcess> StartAsync(string dataDirectory, TestTokenIssuer issuer)
    {
        var jwks = issuer.WriteKeySet(Path.Combine(dataDirectory, "jwks.json"));
        string[] jwt =
        [
            "--FeatureStore:Auth:Mode=ApiKeysAndJwt",
            $"--FeatureStore:Auth:Jwt:Issuer={TestTokenIssuer.DefaultIssuer}",
            $"--FeatureStore:Auth:Jwt:Audience={TestTokenIssuer.DefaultAudience}",
            $"--FeatureStore:Auth:Jwt:SigningKeysFile={jwks}",
        ];
        var gateway = new GatewayProcess(dataDirectory, [.. ApiKeys.Arguments(("setup", ["read", "write", "admin"], [])), .. jwt]) { AuthOff = false };
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

    private static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };

    private static GetOnlineFeaturesRequest Lookup(string entityType) =>
        new() { EntityType = entityType, EntityIds = { "u1" }, FeatureService = "ranker" };

    private static async Task<RpcException> Refused<T>(Func<AsyncUnaryCall<T>> call) =>
        await Assert.ThrowsAsync<RpcException>(async () => await call());

    private static async Task<(HttpStatusCode Status, string Body)> LookupOverHttpAsync(HttpClient http, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("v1/features:lookup", UriKind.Relative))
        {
            Content = new StringContent("{\"entityType\":\"user\",\"entityIds\":[\"u1\"],\"featureService\":\"ranker\"}", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
