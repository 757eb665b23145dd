using Grpc.Core;
using OrleansFeatures.Gateway.Security;

namespace OrleansFeatures.Gateway.Tests.Security;

public sealed class ApiKeyRingTests
{
    // SHA-256("abc"), the FIPS 180-2 test vector; what `echo -n abc | sha256sum` prints.
    private const string AbcHex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    [Fact]
    public void A_hex_hash_in_either_case_and_its_base64_read_as_the_same_bytes()
    {
        Assert.True(ApiKeyHash.TryParse(AbcHex, out var lower));
        Assert.True(ApiKeyHash.TryParse(AbcHex.ToUpperInvariant(), out var upper));
        Assert.True(ApiKeyHash.TryParse(Convert.ToBase64String(Convert.FromHexString(AbcHex)), out var base64));

        Assert.Equal(lower, upper);
        Assert.Equal(lower, base64);
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015")]
    [InlineData("YWJj")]
    public void A_hash_that_is_not_32_bytes_of_hex_or_base64_is_refused(string text) =>
        Assert.False(ApiKeyHash.TryParse(text, out _));

    [Fact]
    public void Computing_a_key_hash_matches_sha256sum()
    {
        var hash = new byte[ApiKeyHash.Length];
        ApiKeyHash.Compute("abc", hash);

        Assert.Equal(AbcHex, Convert.ToHexStringLower(hash));
    }

    [Fact]
    public void Both_keys_of_a_rotation_are_accepted_and_an_unknown_key_is_not()
    {
        var ring = new ApiKeyRing([Key("old", "old-secret", ApiPermission.Read), Key("new", "new-secret", ApiPermission.Read, ApiPermission.Write)]);

        Assert.Equal("old", ring.Find("old-secret")?.Name);
        Assert.Equal("new", ring.Find("new-secret")?.Name);
        Assert.True(ring.Find("new-secret")!.Allows(ApiPermission.Write));
        Assert.False(ring.Find("old-secret")!.Allows(ApiPermission.Write));
        Assert.Null(ring.Find("old-secret "));
        Assert.Null(ring.Find(""));
        Assert.Null(ring.Find(new string('k', ApiKeyHash.MaxKeyLength + 1)));
    }

    [Fact]
    public void A_key_scoped_to_entity_types_covers_only_those()
    {
        var options = Key("scoped", "s", ApiPermission.Read);
        options.EntityTypes.Add("user");
        var credential = new ApiKeyRing([options]).Find("s")!;

        Assert.True(credential.Covers("user"));
        Assert.False(credential.Covers("article"));
        Assert.True(new ApiKeyRing([Key("all", "a", ApiPermission.Read)]).Find("a")!.Covers("article"));
    }

    [Theory]
    [InlineData("authorization", "ApiKey secret", "secret")]
    [InlineData("authorization", "apikey   secret ", "secret")]
    [InlineData("x-api-key", "secret", "secret")]
    [InlineData("authorization", "Bearer secret", null)]
    [InlineData("x-other", "secret", null)]
    public void The_presented_key_is_read_from_authorization_or_x_api_key(string header, string value, string? expected)
    {
        var headers = new Metadata { { header, value } };

        Assert.Equal(expected, ApiKeyRing.ReadPresentedKey(headers));
    }

    internal static ApiKeyOptions Key(string name, string secret, params ApiPermission[] permissions)
    {
        var hash = new byte[ApiKeyHash.Length];
        ApiKeyHash.Compute(secret, hash);
        var options = new ApiKeyOptions { Name = name, Hash = Convert.ToHexString(hash) };
        options.Permissions.AddRange(permissions);
        return options;
    }
}
