using System.Security.Cryptography;
using System.Text;
using Grpc.Core;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>API keys for end-to-end tests: the gateway arguments that configure them and the headers that present them.</summary>
internal static class ApiKeys
{
    /// <summary>Gateway arguments for keys named after their secret: <c>(name, permissions, entityTypes)</c>.</summary>
    public static string[] Arguments(params (string Name, string[] Permissions, string[] EntityTypes)[] keys)
    {
        var args = new List<string> { "--FeatureStore:Auth:Mode=ApiKeys" };
        for (var i = 0; i < keys.Length; i++)
        {
            var (name, permissions, entityTypes) = keys[i];
            args.Add($"--FeatureStore:Auth:ApiKeys:{i}:Name={name}");
            args.Add($"--FeatureStore:Auth:ApiKeys:{i}:Hash={Hash(name)}");
            for (var p = 0; p < permissions.Length; p++)
            {
                args.Add($"--FeatureStore:Auth:ApiKeys:{i}:Permissions:{p}={permissions[p]}");
            }

            for (var t = 0; t < entityTypes.Length; t++)
            {
                args.Add($"--FeatureStore:Auth:ApiKeys:{i}:EntityTypes:{t}={entityTypes[t]}");
            }
        }

        return [.. args];
    }

    /// <summary>The secret of the key called <paramref name="name"/> in <see cref="Arguments"/>.</summary>
    public static string Secret(string name) => $"test-key-{name}-0123456789abcdef";

    /// <summary>The SHA-256 of <see cref="Secret"/> as the gateway's configuration holds it.</summary>
    public static string Hash(string name) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Secret(name))));

    public static Metadata Header(string name) => new() { { "authorization", "ApiKey " + Secret(name) } };
}
