using Microsoft.Extensions.Options;

namespace OrleansFeatures.Gateway.Security;

/// <summary>Fails start-up on a key that cannot work, naming the setting, and on API-key mode with no keys.</summary>
public sealed class AuthOptionsValidator : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        if (options.Mode == AuthMode.None)
        {
            return ValidateOptionsResult.Success;
        }

        if (options.ApiKeys.Count == 0)
        {
            return ValidateOptionsResult.Fail(
                $"{AuthOptions.Section}:Mode is ApiKeys (the default outside --demo and Development) but {AuthOptions.Section}:ApiKeys lists no key: " +
                $"add one ({AuthOptions.Section}:ApiKeys:0:Name, :Hash = SHA-256 of the key, :Permissions:0 = read|write|admin; docs/security.md), " +
                $"or set {AuthOptions.Section}:Mode=None to serve without authentication");
        }

        var failures = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.ApiKeys.Count; i++)
        {
            var key = options.ApiKeys[i];
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

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
