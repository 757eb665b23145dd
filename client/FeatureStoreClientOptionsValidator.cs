using Microsoft.Extensions.Options;

namespace OrleansFeatures.Client;

/// <summary>Refuses options a client cannot work with, naming the setting.</summary>
public sealed class FeatureStoreClientOptionsValidator : IValidateOptions<FeatureStoreClientOptions>
{
    public ValidateOptionsResult Validate(string? name, FeatureStoreClientOptions options)
    {
        var errors = Errors(options).ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static IEnumerable<string> Errors(FeatureStoreClientOptions options)
    {
        const string Prefix = FeatureStoreClientOptions.Section + ":";
        if (options.Address is not { IsAbsoluteUri: true } address || (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps))
        {
            yield return $"{Prefix}{nameof(options.Address)} must be an absolute http:// or https:// URI of the gateway's gRPC endpoint, e.g. http://127.0.0.1:5080";
        }

        if (options.ApiKey is { } key && (key.Length == 0 || key.Any(char.IsWhiteSpace)))
        {
            yield return $"{Prefix}{nameof(options.ApiKey)} must be a non-empty key without whitespace, or unset";
        }

        if (options.DefaultDeadline <= TimeSpan.Zero && options.DefaultDeadline != Timeout.InfiniteTimeSpan)
        {
            yield return $"{Prefix}{nameof(options.DefaultDeadline)} must be positive, or {Timeout.InfiniteTimeSpan} for none";
        }

        if (options.MaxAttempts is < 1 or > 10)
        {
            yield return $"{Prefix}{nameof(options.MaxAttempts)} must be 1..10 (was {options.MaxAttempts})";
        }

        if (options.InitialBackoff <= TimeSpan.Zero || options.MaxBackoff < options.InitialBackoff)
        {
            yield return $"{Prefix}{nameof(options.InitialBackoff)} must be positive and at most {Prefix}{nameof(options.MaxBackoff)}";
        }

        if (options.MaxReceiveMessageBytes < 4 * 1024 * 1024)
        {
            yield return $"{Prefix}{nameof(options.MaxReceiveMessageBytes)} must be at least 4 MiB (gRPC's default)";
        }
    }
}
