using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using OrleansFeatures.Gateway.Security;

namespace OrleansFeatures.Gateway.Tests.Security;

public sealed class AuthOptionsValidatorTests
{
    [Fact]
    public void Api_key_mode_without_keys_fails_naming_the_settings()
    {
        var result = new AuthOptionsValidator().Validate(null, new AuthOptions());

        Assert.True(result.Failed);
        Assert.Contains("FeatureStore:Auth:ApiKeys", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("FeatureStore:Auth:Mode=None", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Mode_none_needs_no_keys() =>
        Assert.True(new AuthOptionsValidator().Validate(null, new AuthOptions { Mode = AuthMode.None }).Succeeded);

    [Fact]
    public void A_bad_hash_a_duplicate_name_and_no_permissions_each_name_their_key()
    {
        var options = new AuthOptions();
        options.ApiKeys.Add(ApiKeyRingTests.Key("a", "x", ApiPermission.Read));
        options.ApiKeys.Add(new ApiKeyOptions { Name = "a", Hash = "not-a-hash" });

        var result = new AuthOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("FeatureStore:Auth:ApiKeys:1:Name", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("FeatureStore:Auth:ApiKeys:1:Hash", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("FeatureStore:Auth:ApiKeys:1:Permissions", result.FailureMessage, StringComparison.Ordinal);
        Assert.DoesNotContain("ApiKeys:0", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Permissions_bind_from_lower_case_configuration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FeatureStore:Auth:ApiKeys:0:Name"] = "model-server",
            ["FeatureStore:Auth:ApiKeys:0:Hash"] = ApiKeyRingTests.Key("k", "k").Hash,
            ["FeatureStore:Auth:ApiKeys:0:Permissions:0"] = "read",
            ["FeatureStore:Auth:ApiKeys:0:Permissions:1"] = "admin",
            ["FeatureStore:Auth:ApiKeys:0:EntityTypes:0"] = "user",
        }).Build();

        var options = configuration.GetSection(AuthOptions.Section).Get<AuthOptions>()!;

        Assert.Equal(AuthMode.ApiKeys, options.Mode);
        Assert.Equal([ApiPermission.Read, ApiPermission.Admin], options.ApiKeys[0].Permissions);
        Assert.Equal(["user"], options.ApiKeys[0].EntityTypes);
    }

    [Fact]
    public void A_role_on_an_endpoint_that_is_not_configured_fails_naming_the_setting()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Grpc:Url"] = "http://127.0.0.1:5080",
            ["Kestrel:Endpoints:Dynamic:Url"] = "http://127.0.0.1:0",
        }).Build();
        var validator = new EndpointRoleOptionsValidator(configuration);

        Assert.True(validator.Validate(null, new EndpointRoleOptions { Serving = "Grpc" }).Succeeded);
        var missing = validator.Validate(null, new EndpointRoleOptions { Admin = "Admin" });
        var dynamic = validator.Validate(null, new EndpointRoleOptions { Ingestion = "Dynamic" });

        Assert.Contains("FeatureStore:Endpoints:Admin", missing.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Kestrel:Endpoints:Admin:Url", missing.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("FeatureStore:Endpoints:Ingestion", dynamic.FailureMessage, StringComparison.Ordinal);
        Assert.True(new EndpointRoles(Options.Create(new EndpointRoleOptions { Serving = "Grpc" }), configuration).Serves(ServiceRole.Serving, 5080));
    }
}
