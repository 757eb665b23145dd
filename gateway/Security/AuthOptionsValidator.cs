using Microsoft.Extensions.Options;

namespace OrleansFeatures.Gateway.Security;

/// <summary>
/// Fails start-up on a key or token setting that cannot work, naming the setting: API-key mode with no keys, a bad key,
/// JWT mode without an issuer, audience or signing keys.
/// </summary>
public sealed class AuthOptionsValidator : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        if (options.Mode == AuthMode.None)
        {
            return ValidateOptionsResult.Success;
        }

        if (options.Mode == AuthMode.ApiKeys && options.ApiKeys.Count == 0)
        {
            return ValidateOptionsResult.Fail(
                $"{AuthOptions.Section}:Mode is ApiKeys (the default outside --demo and Development) but {AuthOptions.Section}:ApiKeys lists no key: " +
                $"add one ({AuthOptions.Section}:ApiKeys:0:Name, :Hash = SHA-256 of the key, :Permissions:0 = read|write|admin; docs/security.md), " +
                $"set {AuthOptions.Section}:Mode=Jwt or ApiKeysAndJwt to accept bearer tokens, or {AuthOptions.Section}:Mode=None to serve without authentication");
        }

        var failures = ValidateApiKeys(options.ApiKeys);
        if (options.Mode.AcceptsJwt())
        {
            ValidateJwt(options.Jwt, failures);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Every problem of the keys, each naming its <c>FeatureStore:Auth:ApiKeys:N:…</c> setting; also used on reload.</summary>
    public static List<string> ValidateApiKeys(IReadOnlyList<ApiKeyOptions> keys)
    {
        var failures = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < keys.Count; i++)
        {
            var key = keys[i];
            var path = $"{AuthOptions.Section}:ApiKeys:{i}";
            if (string.IsNullOrWhiteSpace(key.Name))
            {
                failures.Add($"{path}:Name is required");
            }
            else if (!names.Add(key.Name))
            {
                failures.Add($"{path}:Name '{key.Name}' is used by another key");
            }

            if (!ApiKeyHash.TryParse(key.Hash, out _))
            {
                failures.Add($"{path}:Hash must be the SHA-256 of the key as 64 hex digits (echo -n KEY | sha256sum) or 44 base64 characters");
            }

            if (key.Permissions.Count == 0)
            {
                failures.Add($"{path}:Permissions must list at least one of read, write, admin");
            }

            for (var t = 0; t < key.EntityTypes.Count; t++)
            {
                if (string.IsNullOrWhiteSpace(key.EntityTypes[t]))
                {
                    failures.Add($"{path}:EntityTypes:{t} is empty");
                }
            }
        }

        return failures;
    }

    private static void ValidateJwt(JwtOptions jwt, List<string> failures)
    {
        const string path = JwtOptions.Section;
        if (string.IsNullOrWhiteSpace(jwt.Issuer))
        {
            failures.Add($"{path}:Issuer is required: the iss every accepted token carries (Entra ID: https://login.microsoftonline.com/TENANT/v2.0)");
        }

        if (string.IsNullOrWhiteSpace(jwt.Audience))
        {
            failures.Add($"{path}:Audience is required: the aud every accepted token carries (the API's application ID URI or client id)");
        }

        var hasMetadata = !string.IsNullOrWhiteSpace(jwt.MetadataAddress);
        var hasFile = !string.IsNullOrWhiteSpace(jwt.SigningKeysFile);
        if (hasMetadata == hasFile)
        {
            failures.Add($"{path}: set exactly one of {path}:MetadataAddress (the issuer's https://…/.well-known/openid-configuration) " +
                $"and {path}:SigningKeysFile (a JSON Web Key Set file)");
        }
        else if (hasMetadata)
        {
            if (!Uri.TryCreate(jwt.MetadataAddress, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
            {
                failures.Add($"{path}:MetadataAddress must be an absolute https URL");
            }
        }
        else
        {
            try
            {
                BearerTokenValidator.ReadSigningKeys(jwt.SigningKeysFile!);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or InvalidDataException or System.Text.Json.JsonException)
            {
                failures.Add($"{path}:SigningKeysFile '{jwt.SigningKeysFile}' is not a readable JSON Web Key Set with a signing key: {exception.Message}");
            }
        }

        if (jwt.ClockSkew < TimeSpan.Zero || jwt.ClockSkew > JwtOptions.MaxClockSkew)
        {
            failures.Add($"{path}:ClockSkew must be between 00:00:00 and {JwtOptions.MaxClockSkew:c}");
        }

        if (jwt.ValuePrefix.Any(char.IsWhiteSpace))
        {
            failures.Add($"{path}:ValuePrefix must not contain spaces (scopes are space-separated)");
        }

        for (var i = 0; i < jwt.ClaimTypes.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(jwt.ClaimTypes[i]))
            {
                failures.Add($"{path}:ClaimTypes:{i} is empty");
            }
        }
    }
}
