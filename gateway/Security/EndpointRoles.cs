using Microsoft.Extensions.Options;

namespace OrleansFeatures.Gateway.Security;

/// <summary>
/// The local ports each service role is served on, resolved once from <see cref="EndpointRoleOptions"/> and the Kestrel
/// endpoint URLs. A call is matched on the port it arrived at, not on its Host header, which the caller controls.
/// </summary>
public sealed class EndpointRoles
{
    private readonly int[]?[] _ports = new int[]?[3];

    public EndpointRoles(IOptions<EndpointRoleOptions> options, IConfiguration configuration)
    {
        var value = options.Value;
        _ports[(int)ServiceRole.Serving] = Resolve(value.Serving, configuration);
        _ports[(int)ServiceRole.Ingestion] = Resolve(value.Ingestion, configuration);
        _ports[(int)ServiceRole.Admin] = Resolve(value.Admin, configuration);
    }

    /// <summary>True when no role has its own endpoint (every service on every endpoint).</summary>
    public bool AllShared => Array.TrueForAll(_ports, p => p is null);

    public bool Serves(ServiceRole role, int localPort) =>
        _ports[(int)role] is not { } ports || Array.IndexOf(ports, localPort) >= 0;

    /// <summary>The port of a Kestrel endpoint named in configuration, or an error naming the setting.</summary>
    internal static bool TryPort(string endpointName, IConfiguration configuration, out int port, out string? error)
    {
        port = 0;
        var url = configuration[$"Kestrel:Endpoints:{endpointName}:Url"];
        if (string.IsNullOrWhiteSpace(url))
        {
            error = $"names Kestrel endpoint '{endpointName}', but Kestrel:Endpoints:{endpointName}:Url is not set";
            return false;
        }

        // Kestrel accepts "http://*:5080" and "http://+:5080", which Uri does not parse as a host.
        var parsable = url.Replace("://*", "://wildcard", StringComparison.Ordinal).Replace("://+", "://wildcard", StringComparison.Ordinal);
        if (!Uri.TryCreate(parsable, UriKind.Absolute, out var uri) || uri.Port <= 0)
        {
            error = $"names Kestrel endpoint '{endpointName}', whose Url '{url}' has no fixed port";
            return false;
        }

        port = uri.Port;
        error = null;
        return true;
    }

    private static int[]? Resolve(string? names, IConfiguration configuration)
    {
        if (string.IsNullOrWhiteSpace(names))
        {
            return null;
        }

        var ports = new List<int>();
        foreach (var name in names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (TryPort(name, configuration, out var port, out _))
            {
                ports.Add(port);
            }
        }

        return [.. ports];
    }
}
