using System.Security.Claims;
using OrleansFeatures.Gateway.Security;

namespace OrleansFeatures.Gateway.Tests.Security;

public sealed class TokenGrantTests
{
    [Fact]
    public void App_roles_and_space_separated_scopes_each_grant_their_permission()
    {
        var grant = TokenGrant.FromClaims([new("roles", "read"), new("roles", "Admin"), new("scp", "openid write profile")], new JwtOptions());

        Assert.True(grant.Allows(ApiPermission.Read));
        Assert.True(grant.Allows(ApiPermission.Write));
        Assert.True(grant.Allows(ApiPermission.Admin));
        Assert.Null(grant.EntityTypes);
    }

    [Fact]
    public void Values_need_the_prefix_and_entity_values_limit_the_scope()
    {
        var options = new JwtOptions { ValuePrefix = "FeatureStore." };
        var grant = TokenGrant.FromClaims(
            [new("roles", "FeatureStore.Read"), new("roles", "write"), new("roles", "FeatureStore.entity:user"), new("scope", "FeatureStore.entity:game")],
            options);

        Assert.True(grant.Allows(ApiPermission.Read));
        Assert.False(grant.Allows(ApiPermission.Write));
        Assert.True(grant.Covers("user"));
        Assert.True(grant.Covers("game"));
        Assert.False(grant.Covers("article"));
    }

    [Fact]
    public void Only_the_configured_claim_types_count()
    {
        var options = new JwtOptions();
        options.ClaimTypes.Add("groups");

        var grant = TokenGrant.FromClaims([new("roles", "admin"), new("groups", "read")], options);

        Assert.True(grant.Allows(ApiPermission.Read));
        Assert.False(grant.Allows(ApiPermission.Admin));
    }

    [Fact]
    public void A_missing_permission_is_refused_naming_the_role_value_it_needs()
    {
        var grant = TokenGrant.FromClaims([new("sub", "user-1"), new("azp", "ranker-app"), new("roles", "FeatureStore.read")], new JwtOptions { ValuePrefix = "FeatureStore." });

        Assert.Equal("ranker-app", grant.Name);
        Assert.Equal(
            "the bearer token of 'ranker-app' lacks the write permission: it needs the role or scope 'FeatureStore.write'",
            grant.LacksPermission(ApiPermission.Write));
    }

    [Fact]
    public void A_token_with_no_known_value_grants_nothing_and_a_long_subject_is_cut()
    {
        var grant = TokenGrant.FromClaims([new("sub", new string('s', 500)), new("roles", "reader"), new("name", "read")], new JwtOptions());

        Assert.Empty(grant.Permissions);
        Assert.True(grant.Name.Length <= 129);
    }
}
