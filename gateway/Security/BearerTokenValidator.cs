using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace OrleansFeatures.Gateway.Security;

/// <summary>
/// Checks a JWT bearer token's signature, issuer, audience and lifetime against <c>FeatureStore:Auth:Jwt</c> and reads what it
/// grants. A refusal says which check failed and never repeats the token.
/// </summary>
public sealed class BearerTokenValidator
{
    /// <summary>Longer than any token an identity provider issues (Entra ID's are 1-3 KB); the rest is not parsed.</summary>
    public const int MaxTokenLength = 16 * 1024;

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly TokenValidationParameters _parameters;
    private readonly JwtOptions _options;
    private readonly ConfigurationManager<OpenIdConnectConfiguration>? _metadata;

    public BearerTokenValidator(JwtOptions options, TimeProvider timeProvider)
    {
        _options = options;
        _parameters = new TokenValidationParameters
        {
            ValidIssuer = options.Issuer,
            ValidAudience = options.Audience,
            ValidateIssuer = true,
            ValidateAudience = true,
            ValidateLifetime = true,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ValidateIssuerSigningKey = true,
            ClockSkew = options.ClockSkew,
            // Expiry is checked against the gateway's clock, so tests and the lifetime check share one source of time.
            LifetimeValidator = (notBefore, expires, _, parameters) => CheckLifetime(notBefore, expires, parameters, timeProvider),
        };

        if (!string.IsNullOrWhiteSpace(options.SigningKeysFile))
        {
            _parameters.IssuerSigningKeys = ReadSigningKeys(options.SigningKeysFile);
        }
        else
        {
            _metadata = new ConfigurationManager<OpenIdConnectConfiguration>(
                options.MetadataAddress!,
                new OpenIdConnectConfigurationRetriever(),
                new HttpDocumentRetriever { RequireHttps = true });
            _parameters.ConfigurationManager = _metadata;
        }
    }

    /// <summary>The public keys of a JSON Web Key Set file; throws naming the file when it holds none.</summary>
    public static IList<SecurityKey> ReadSigningKeys(string path)
    {
        var keys = new JsonWebKeySet(File.ReadAllText(path)).GetSigningKeys();
        if (keys.Count == 0)
        {
            throw new InvalidDataException($"{path} holds no signing key");
        }

        return keys;
    }

    /// <summary>
    /// The grant of a valid token, or null and a refusal that names the failed check. <c>KeysUnavailable</c> says the
    /// token could not be checked at all: the issuer's metadata or keys could not be fetched (the gateway's problem, not the caller's).
    /// </summary>
    public async ValueTask<(TokenGrant? Grant, string? Refusal, bool KeysUnavailable)> ValidateAsync(string token, CancellationToken cancellationToken = default)
    {
        if (token.Length > MaxTokenLength)
        {
            return (null, $"the bearer token is longer than {MaxTokenLength} characters", false);
        }

        if (_metadata is not null)
        {
            // Cached after the first fetch; without this the handler would report unreachable keys as a bad signature.
            try
            {
                await _metadata.GetConfigurationAsync(cancellationToken);
            }
            catch (InvalidOperationException)
            {
                return (null, "the issuer's signing keys could not be fetched from FeatureStore:Auth:Jwt:MetadataAddress; retry later", true);
            }
        }

        var result = await _handler.ValidateTokenAsync(token, _parameters);
        if (result.IsValid)
        {
            return (TokenGrant.FromClaims(result.ClaimsIdentity.Claims, _options), null, false);
        }

        return (null, Describe(result.Exception), false);
    }

    private static string Describe(Exception? exception) => exception switch
    {
        SecurityTokenExpiredException expired => $"the bearer token expired at {expired.Expires:yyyy-MM-ddTHH:mm:ssZ}",
        SecurityTokenNotYetValidException early => $"the bearer token is not valid before {early.NotBefore:yyyy-MM-ddTHH:mm:ssZ}",
        SecurityTokenNoExpirationException => "the bearer token has no expiry (exp)",
        SecurityTokenInvalidIssuerException => "the bearer token was not issued by the accepted issuer (FeatureStore:Auth:Jwt:Issuer)",
        SecurityTokenInvalidAudienceException => "the bearer token is not meant for this audience (FeatureStore:Auth:Jwt:Audience)",
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException =>
            "the bearer token's signature does not verify with the issuer's signing keys",
        SecurityTokenMalformedException or ArgumentException => "the bearer token is not a well-formed JWT",
        SecurityTokenInvalidLifetimeException => "the bearer token's lifetime (nbf, exp) is not valid",
        SecurityTokenException => "the bearer token is not valid",
        _ => "the bearer token could not be validated",
    };

    private static bool CheckLifetime(DateTime? notBefore, DateTime? expires, TokenValidationParameters parameters, TimeProvider timeProvider)
    {
        var now = timeProvider.GetUtcNow().UtcDateTime;
        if (expires is null)
        {
            throw new SecurityTokenNoExpirationException("no exp");
        }

        if (notBefore is { } nbf && nbf > now + parameters.ClockSkew)
        {
            throw new SecurityTokenNotYetValidException("not yet valid") { NotBefore = nbf };
        }

        if (expires.Value < now - parameters.ClockSkew)
        {
            throw new SecurityTokenExpiredException("expired") { Expires = expires.Value };
        }

        return true;
    }
}
