using Microsoft.Extensions.Options;

namespace OrleansFeatures.Gateway.Security;

/// <summary>Fails start-up when a role names a Kestrel endpoint that does not exist or has no fixed port.</summary>
public sealed class EndpointRoleOptionsValidator(IConfiguration configuration) : IValidateOptions<EndpointRoleOptions>
{
    public ValidateOptionsResult Validate(string? name, EndpointRoleOptions options)
    {
        var failures = new List<string>();
        Check(nameof(EndpointRoleOptions.Serving), options.Serving);
        Check(nameof(EndpointRoleOptions.Ingestion), options.Ingestion);
        Check(nameof(EndpointRoleOptions.Admin), options.Admin);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);

        void Check(string role, string? endpoints)
        {
            if (string.IsNullOrWhiteSpace(endpoints))
            {
                return;
            }

            foreach (var endpoint in endpoints.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!EndpointRoles.TryPort(endpoint, configuration, out _, out var error))
                {
                    failures.Add($"{EndpointRoleOptions.Section}:{role} {error}");
                }
            }
        }
    }
}
