using System.Text.Json.Nodes;
using OrleansFeatures.Gateway.Security;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Gateway.Tests.Security;

public sealed class BearerTokenValidatorTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly TestTokenIssuer _issuer = new();
    private readonly BearerTokenValidator _validator;

    public BearerTokenValidatorTests()
    {
        _validator = new BearerTokenValidator(Options(_issuer.WriteKeySet(Path.Combine(_temp.Path, "jwks.json"))), TimeProvider.System);
    }

    [Fact]
    public async Task A_valid_token_grants_its_roles()
    {
        var (grant, refusal, _) = await _validator.ValidateAsync(_issuer.Mint(roles: ["read", "entity:user"]));

        Assert.Null(refusal);
        Assert.Equal("test-client", grant!.Name);
        Assert.True(grant.Allows(ApiPermission.Read));
        Assert.False(grant.Allows(ApiPermission.Write));
        Assert.False(grant.Covers("article"));
    }

    [Fact]
    public async Task An_expired_token_is_refused_with_its_expiry_and_never_echoed()
    {
        var expires = DateTimeOffset.UtcNow.AddMinutes(-10);
        var token = _issuer.Mint(roles: ["read"], expires: expires);

        var (grant, refusal, _) = await _validator.ValidateAsync(token);

        Assert.Null(grant);
        Assert.Equal($"the bearer token expired at {expires.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}", refusal);
    }

    [Fact]
    public async Task A_token_within_the_clock_skew_of_its_expiry_is_accepted()
    {
        var (grant, _, _) = await _validator.ValidateAsync(_issuer.Mint(roles: ["read"], expires: DateTimeOffset.UtcNow.AddSeconds(-10)));

        Assert.NotNull(grant);
    }

    [Fact]
    public async Task Wrong_issuer_audience_signature_missing_expiry_and_garbage_each_say_which_check_failed()
    {
        using var stranger = new TestTokenIssuer();
        var cases = new Dictionary<string, string>
        {
            [_issuer.Mint(issuer: "https://other.test/")] = "the bearer token was not issued by the accepted issuer (FeatureStore:Auth:Jwt:Issuer)",
            [_issuer.Mint(audience: "api://other")] = "the bearer token is not meant for this audience (FeatureStore:Auth:Jwt:Audience)",
            [stranger.Mint(roles: ["read"])] = "the bearer token's signature does not verify with the issuer's signing keys",
            [_issuer.Sign(new JsonObject { ["iss"] = TestTokenIssuer.DefaultIssuer, ["aud"] = TestTokenIssuer.DefaultAudience })] = "the bearer token has no expiry (exp)",
            ["not-a-token"] = "the bearer token is not a well-formed JWT",
            [new string('a', BearerTokenValidator.MaxTokenLength + 1)] = $"the bearer token is longer than {BearerTokenValidator.MaxTokenLength} characters",
        };

        foreach (var (token, expected) in cases)
        {
            var (grant, refusal, _) = await _validator.ValidateAsync(token);

            Assert.Null(grant);
            Assert.Equal(expected, refusal);
        }
    }

    [Fact]
    public async Task An_unsigned_token_is_refused()
    {
        var signed = _issuer.Mint(roles: ["admin"]);
        var parts = signed.Split('.');
        var unsigned = Convert.ToBase64String("{\"alg\":\"none\",\"typ\":\"JWT\"}"u8.ToArray()).TrimEnd('=') + "." + parts[1] + ".";

        var (grant, refusal, _) = await _validator.ValidateAsync(unsigned);

        Assert.Null(grant);
        Assert.NotNull(refusal);
    }

    [Fact]
    public async Task An_issuer_whose_metadata_cannot_be_fetched_refuses_the_token_saying_so()
    {
        // Port 1 on loopback: refused at once, no network needed.
        var options = new JwtOptions
        {
            Issuer = TestTokenIssuer.DefaultIssuer,
            Audience = TestTokenIssuer.DefaultAudience,
            MetadataAddress = "https://127.0.0.1:1/.well-known/openid-configuration",
        };
        var validator = new BearerTokenValidator(options, TimeProvider.System);

        var (grant, refusal, keysUnavailable) = await validator.ValidateAsync(_issuer.Mint(roles: ["read"]));

        Assert.Null(grant);
        Assert.True(keysUnavailable);
        Assert.Equal("the issuer's signing keys could not be fetched from FeatureStore:Auth:Jwt:MetadataAddress; retry later", refusal);
    }

    public void Dispose()
    {
        _issuer.Dispose();
        _temp.Dispose();
    }

    internal static JwtOptions Options(string keysFile) => new()
    {
        Issuer = TestTokenIssuer.DefaultIssuer,
        Audience = TestTokenIssuer.DefaultAudience,
        SigningKeysFile = keysFile,
    };
}
