using System.Net;

namespace OrleansFeatures.Gateway.Security;

/// <summary>Says at start-up, once, how the gateway is exposed: authentication off, plaintext beyond loopback, reflection on.</summary>
public static partial class SecurityStartupReport
{
    public static void Log(ILogger logger, IConfiguration configuration, AuthMode mode, bool authOffByDefault, int keyCount, string? issuer, bool reflection)
    {
        if (mode == AuthMode.None)
        {
            if (authOffByDefault)
            {
                LogAuthOffByDefault(logger);
            }
            else
            {
                LogAuthOff(logger);
            }
        }
        else
        {
            if (mode.AcceptsApiKeys())
            {
                LogApiKeys(logger, keyCount);
            }

            if (mode.AcceptsJwt())
            {
                LogJwt(logger, issuer ?? "");
            }
        }

        foreach (var endpoint in configuration.GetSection("Kestrel:Endpoints").GetChildren())
        {
            var url = endpoint["Url"];
            if (url is not null && url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) && !IsLoopback(url))
            {
                LogPlaintext(logger, endpoint.Key, url);
            }
        }

        if (reflection)
        {
            LogReflection(logger);
        }
    }

    private static bool IsLoopback(string url)
    {
        var host = url["http://".Length..];
        var end = host.StartsWith('[') ? host.IndexOf(']', StringComparison.Ordinal) + 1 : host.IndexOfAny([':', '/']);
        host = end > 0 ? host[..end] : host;
        return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Authentication is OFF (local quickstart: --demo or the Development environment): anyone who reaches the gRPC port can read, push and replace definitions. " +
        "To require API keys set FeatureStore:Auth:Mode=ApiKeys and FeatureStore:Auth:ApiKeys:0:Name, :Hash (echo -n KEY | sha256sum) and :Permissions:0=read|write|admin; see docs/security.md")]
    private static partial void LogAuthOffByDefault(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Authentication is OFF (FeatureStore:Auth:Mode=None): anyone who reaches the gRPC port can read, push and replace definitions")]
    private static partial void LogAuthOff(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Authentication: API keys accepted ({KeyCount} active keys)")]
    private static partial void LogApiKeys(ILogger logger, int keyCount);

    [LoggerMessage(Level = LogLevel.Information, Message = "Authentication: JWT bearer tokens from {Issuer} accepted")]
    private static partial void LogJwt(ILogger logger, string issuer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kestrel endpoint {Endpoint} ({Url}) is plaintext and not on loopback: API keys and features cross the network unencrypted; configure a certificate (docs/security.md, TLS)")]
    private static partial void LogPlaintext(ILogger logger, string endpoint, string url);

    [LoggerMessage(Level = LogLevel.Information, Message = "gRPC server reflection is on (FeatureStore:Reflection:Enabled or the Development environment)")]
    private static partial void LogReflection(ILogger logger);
}
