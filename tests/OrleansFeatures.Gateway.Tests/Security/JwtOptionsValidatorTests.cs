using Microsoft.Extensions.Configuration;
using OrleansFeatures.Gateway.Security;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Gateway.Tests.Security;

public sealed class JwtOptionsValidatorTests
{
    [Fact]
    public void Jwt_mode_without_issuer_audience_or_keys_fails_naming_each_setting()
    {
        var result = new AuthOptionsValidator().Validate(null, new AuthOptions { Mode = AuthMode.Jwt });

        Assert.True(result.Failed);
        Assert.Contains("FeatureStore:Auth:Jwt:Issuer is required", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("FeatureStore:Auth:Jwt:Audience is required", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("FeatureStore:Auth:Jwt:MetadataAddress", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("FeatureStore:Auth:Jwt:SigningKeysFile", result.FailureMessage, StringComparison.Ordinal);
        Assert.DoesNotContain("ApiKeys", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Jwt_mode_with_a_key_set_file_needs_no_api_keys_and_both_modes_may_be_on()
    {
        using var temp = new TempDirectory();
        using var issuer = new TestTokenIssuer();
        var jwt = BearerTokenValidatorTests.Options(issuer.WriteKeySet(Path.Combine(temp.Path, "jwks.json")));

        var jwtOnly = new AuthOptions { Mode = AuthMode.Jwt, Jwt = jwt };
        var both = new AuthOptions { Mode = AuthMode.ApiKeysAndJwt, Jwt = jwt };
        both.ApiKeys.Add(ApiKeyRingTests.Key("k", "k", ApiPermission.Read));

        Assert.True(new AuthOptionsValidator().Validate(null, jwtOnly).Succeeded);
        Assert.True(new AuthOptionsValidator().Validate(null, both).Succeeded);
    }

    [Fact]
    public void A_missing_or_invalid_key_set_file_a_plain_http_metadata_address_and_both_sources_fail_naming_the_setting()
    {
        using var temp = new TempDirectory();
        var garbage = Path.Combine(temp.Path, "garbage.json");
        File.WriteAllText(garbage, "{ not json");
        var empty = Path.Combine(temp.Path, "empty.json");
        File.WriteAllText(empty, "{\"keys\":[]}");

        foreach (var file in new[] { Path.Combine(temp.Path, "missing.json"), garbage, empty })
        {
            var result = Validate(new JwtOptions { Issuer = "i", Audience = "a", SigningKeysFile = file });
            Assert.Contains($"FeatureStore:Auth:Jwt:SigningKeysFile '{file}'", result, StringComparison.Ordinal);
        }

        Assert.Contains("FeatureStore:Auth:Jwt:MetadataAddress must be an absolute https URL", Validate(new JwtOptions { Issuer = "i", Audience = "a", MetadataAddress = "http://idp/.well-known/openid-configuration" }), StringComparison.Ordinal);
        Assert.Contains("set exactly one of", Validate(new JwtOptions { Issuer = "i", Audience = "a", MetadataAddress = "https://idp/", SigningKeysFile = empty }), StringComparison.Ordinal);
    }

    [Fact]
    public void A_clock_skew_beyond_five_minutes_and_a_prefix_with_a_space_fail_naming_the_setting()
    {
        var result = Validate(new JwtOptions { Issuer = "i", Audience = "a", MetadataAddress = "https://idp/", ClockSkew = TimeSpan.FromHours(1), ValuePrefix = "Feature Store." });

        Assert.Contains("FeatureStore:Auth:Jwt:ClockSkew", result, StringComparison.Ordinal);
        Assert.Contains("FeatureStore:Auth:Jwt:ValuePrefix", result, StringComparison.Ordinal);
    }

    [Fact]
    public void Jwt_settings_bind_from_configuration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FeatureStore:Auth:Mode"] = "ApiKeysAndJwt",
            ["FeatureStore:Auth:Jwt:Issuer"] = "https://login.microsoftonline.com/t/v2.0",
            ["FeatureStore:Auth:Jwt:Audience"] = "api://features",
            ["FeatureStore:Auth:Jwt:MetadataAddress"] = "https://login.microsoftonline.com/t/v2.0/.well-known/openid-configuration",
            ["FeatureStore:Auth:Jwt:ClaimTypes:0"] = "roles",
            ["FeatureStore:Auth:Jwt:ValuePrefix"] = "FeatureStore.",
            ["FeatureStore:Auth:Jwt:ClockSkew"] = "00:01:00",
        }).Build();

        var options = configuration.GetSection(AuthOptions.Section).Get<AuthOptions>()!;

        Assert.Equal(AuthMode.ApiKeysAndJwt, options.Mode);
        Assert.Equal(["roles"], options.Jwt.ClaimTypes);
        Assert.Equal("FeatureStore.", options.Jwt.ValuePrefix);
        Assert.Equal(TimeSpan.FromMinutes(1), options.Jwt.ClockSkew);
        Assert.True(new AuthOptionsValidator().Validate(null, options).Succeeded);
    }

    private static string Validate(JwtOptions jwt) =>
        new AuthOptionsValidator().Validate(null, new AuthOptions { Mode = AuthMode.Jwt, Jwt = jwt }).FailureMessage ?? "";
}
