using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// A local stand-in for an OpenID Connect issuer: an RSA key generated per instance, its public half as a JSON Web Key Set
/// file the gateway is pointed at, and RS256 tokens signed here with no JWT library, so the tests do not share the
/// gateway's parser.
/// </summary>
public sealed class TestTokenIssuer : IDisposable
{
    public const string DefaultIssuer = "https://issuer.test/tenant/v2.0";
    public const string DefaultAudience = "api://orleansfeatures-test";

    private readonly RSA _rsa = RSA.Create(2048);
    private readonly string _keyId = Guid.NewGuid().ToString("N");

    /// <summary>The JSON Web Key Set (<c>{"keys":[…]}</c>) of the public key.</summary>
    public string JsonWebKeySet
    {
        get
        {
            var parameters = _rsa.ExportParameters(includePrivateParameters: false);
            return new JsonObject
            {
                ["keys"] = new JsonArray(new JsonObject
                {
                    ["kty"] = "RSA",
                    ["use"] = "sig",
                    ["alg"] = "RS256",
                    ["kid"] = _keyId,
                    ["n"] = Base64Url(parameters.Modulus!),
                    ["e"] = Base64Url(parameters.Exponent!),
                }),
            }.ToJsonString();
        }
    }

    /// <summary>Writes <see cref="JsonWebKeySet"/> to <paramref name="path"/> and returns the path.</summary>
    public string WriteKeySet(string path)
    {
        File.WriteAllText(path, JsonWebKeySet);
        return path;
    }

    /// <summary>
    /// A signed token: <c>roles</c> as an array and <c>scp</c> as one space-separated string when given, valid from a minute ago
    /// until <paramref name="expires"/> (an hour from now by default).
    /// </summary>
    public string Mint(
        string[]? roles = null,
        string? scp = null,
        string subject = "test-client",
        string issuer = DefaultIssuer,
        string audience = DefaultAudience,
        DateTimeOffset? expires = null)
    {
        var now = DateTimeOffset.UtcNow;
        var payload = new JsonObject
        {
            ["iss"] = issuer,
            ["aud"] = audience,
            ["sub"] = subject,
            ["iat"] = now.AddMinutes(-1).ToUnixTimeSeconds(),
            ["nbf"] = now.AddMinutes(-1).ToUnixTimeSeconds(),
            ["exp"] = (expires ?? now.AddHours(1)).ToUnixTimeSeconds(),
        };
        if (roles is not null)
        {
            payload["roles"] = new JsonArray([.. roles.Select(r => JsonValue.Create(r))]);
        }

        if (scp is not null)
        {
            payload["scp"] = scp;
        }

        return Sign(payload);
    }

    /// <summary>Signs any payload with this issuer's key; for tokens the gateway must refuse (no exp, odd claims).</summary>
    public string Sign(JsonObject payload)
    {
        var header = new JsonObject { ["alg"] = "RS256", ["typ"] = "JWT", ["kid"] = _keyId };
        var signingInput = Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." +
            Base64Url(Encoding.UTF8.GetBytes(payload.ToJsonString(JsonSerializerOptions.Default)));
        var signature = _rsa.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + Base64Url(signature);
    }

    public void Dispose() => _rsa.Dispose();

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
