using Azure.Messaging.EventHubs;
using Orleans.Runtime;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>Fails start-up on a bad Event Hubs configuration, naming the setting.</summary>
public static class EventHubStreamOptionsValidator
{
    private const string Prefix = "FeatureStore:EventHubs:";

    /// <summary>Throws <see cref="OrleansConfigurationException"/> naming the first bad setting.</summary>
    public static void Validate(EventHubStreamOptions options)
    {
        if (options.Hubs.Count == 0 || options.Hubs.Any(h => string.IsNullOrWhiteSpace(h) || !IsHubName(h)))
        {
            throw Bad("Hubs", "must list at least one event hub (letters, digits, '.', '-', '_'; each a definition source)");
        }

        if (options.Hubs.Distinct(StringComparer.Ordinal).Count() != options.Hubs.Count)
        {
            throw Bad("Hubs", "lists a hub twice");
        }

        if (string.IsNullOrWhiteSpace(options.ConsumerGroup))
        {
            throw Bad("ConsumerGroup", "is required ($Default always exists)");
        }

        var hasConnectionString = !string.IsNullOrWhiteSpace(options.ConnectionString);
        var hasNamespace = !string.IsNullOrWhiteSpace(options.FullyQualifiedNamespace);
        if (hasConnectionString == hasNamespace)
        {
            throw new OrleansConfigurationException(
                $"Event Hubs: set exactly one of {Prefix}ConnectionString (SAS) or {Prefix}FullyQualifiedNamespace (<namespace>.servicebus.windows.net, managed identity).");
        }

        if (hasConnectionString)
        {
            EventHubsConnectionStringProperties properties;
            try
            {
                properties = EventHubsConnectionStringProperties.Parse(options.ConnectionString!);
            }
            catch (Exception exception) when (exception is FormatException or ArgumentException)
            {
                // The message never includes the value: it is a secret.
                throw Bad("ConnectionString", $"is not an Event Hubs connection string ({exception.GetType().Name}); expected Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...");
            }

            if (properties.Endpoint is null || string.IsNullOrEmpty(properties.Endpoint.Host))
            {
                throw Bad("ConnectionString", "has no Endpoint=sb://<namespace>.servicebus.windows.net/");
            }

            if (string.IsNullOrEmpty(properties.SharedAccessKey) && string.IsNullOrEmpty(properties.SharedAccessSignature))
            {
                throw Bad("ConnectionString", "has neither SharedAccessKey nor SharedAccessSignature");
            }

            if (!string.IsNullOrEmpty(properties.EventHubName) && (options.Hubs.Count != 1 || options.Hubs[0] != properties.EventHubName))
            {
                throw Bad("ConnectionString", $"is scoped to one hub (EntityPath={properties.EventHubName}), which must then be the only entry of {Prefix}Hubs; use a namespace-level policy for several hubs");
            }
        }
        else if (options.FullyQualifiedNamespace!.Contains("://", StringComparison.Ordinal)
            || Uri.CheckHostName(options.FullyQualifiedNamespace) != UriHostNameType.Dns
            || !options.FullyQualifiedNamespace.Contains('.', StringComparison.Ordinal))
        {
            throw Bad("FullyQualifiedNamespace", $"must be a host name such as contoso.servicebus.windows.net (no scheme, no path), was '{options.FullyQualifiedNamespace}'");
        }

        var hasTableConnectionString = !string.IsNullOrWhiteSpace(options.TableConnectionString);
        var hasTableUri = !string.IsNullOrWhiteSpace(options.TableServiceUri);
        if (hasTableConnectionString == hasTableUri)
        {
            throw new OrleansConfigurationException(
                $"Event Hubs: checkpoints and dead letters live in Azure Table storage; set exactly one of {Prefix}TableConnectionString or {Prefix}TableServiceUri (https://<account>.table.core.windows.net, managed identity).");
        }

        if (hasTableUri && (!Uri.TryCreate(options.TableServiceUri, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http")))
        {
            throw Bad("TableServiceUri", $"must be an absolute https URI such as https://contoso.table.core.windows.net, was '{options.TableServiceUri}'");
        }

        if (hasTableConnectionString && !options.TableConnectionString!.Contains("TableEndpoint=", StringComparison.OrdinalIgnoreCase)
            && !options.TableConnectionString.Contains("AccountName=", StringComparison.OrdinalIgnoreCase)
            && !options.TableConnectionString.Equals("UseDevelopmentStorage=true", StringComparison.OrdinalIgnoreCase))
        {
            throw Bad("TableConnectionString", "is not an Azure Storage connection string (no AccountName= or TableEndpoint=)");
        }

        foreach (var (setting, table) in new[] { ("CheckpointTable", options.CheckpointTable), ("DeadLetterTable", options.DeadLetterTable) })
        {
            if (!IsTableName(table))
            {
                throw Bad(setting, $"must be 3-63 letters or digits starting with a letter, was '{table}'");
            }
        }

        if (options.PrefetchCount is < 0 or > 100_000)
        {
            throw Bad("PrefetchCount", $"must be between 0 and 100000, was {options.PrefetchCount}");
        }

        if (options.MetadataTimeout <= TimeSpan.Zero || options.MetadataTimeout > TimeSpan.FromMinutes(10))
        {
            throw Bad("MetadataTimeout", $"must be between 0 and 10 minutes, was {options.MetadataTimeout}");
        }
    }

    private static OrleansConfigurationException Bad(string setting, string problem) => new($"Event Hubs: {Prefix}{setting} {problem}.");

    private static bool IsHubName(string name) =>
        name.Length <= 256 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_');

    private static bool IsTableName(string name) =>
        name.Length is >= 3 and <= 63 && char.IsAsciiLetter(name[0]) && name.All(char.IsAsciiLetterOrDigit);
}
