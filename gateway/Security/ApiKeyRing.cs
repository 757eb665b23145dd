using System.Security.Cryptography;
using Grpc.Core;

namespace OrleansFeatures.Gateway.Security;

/// <summary>
/// The active API keys; finds the one a caller presented by comparing hashes in constant time. The set is replaced whole
/// when the keys are reloaded (<see cref="ApiKeyReloader"/>), so a call sees either the old keys or the new ones.
/// </summary>
public sealed class ApiKeyRing
{
    private const string ApiKeyScheme = "ApiKey ";
    private const string BearerScheme = "Bearer ";

    private volatile ApiKeyCredential[] _credentials;

    public ApiKeyRing(IEnumerable<ApiKeyOptions> keys) => _credentials = Parse(keys);

    /// <summary>Makes <paramref name="keys"/> the active set: keys not in it are refused from the next call on.</summary>
    public void Replace(IEnumerable<ApiKeyOptions> keys) => _credentials = Parse(keys);

    private static ApiKeyCredential[] Parse(IEnumerable<ApiKeyOptions> keys)
    {
        var credentials = new List<ApiKeyCredential>();
        foreach (var key in keys)
        {
            if (!ApiKeyHash.TryParse(key.Hash, out var hash))
            {
                throw new ArgumentException($"API key '{key.Name}' has a hash that is not 64 hex digits or the base64 of 32 bytes", nameof(keys));
            }

            var scope = key.EntityTypes.Count == 0 ? null : new HashSet<string>(key.EntityTypes, StringComparer.Ordinal);
            credentials.Add(new ApiKeyCredential(key.Name, hash, new HashSet<ApiPermission>(key.Permissions), scope));
        }

        return [.. credentials];
    }

    public int Count => _credentials.Length;

    /// <summary>True when both rings hold the same names, hashes, permissions and scopes, in order.</summary>
    internal bool SameAs(ApiKeyRing other)
    {
        var mine = _credentials;
        var theirs = other._credentials;
        if (mine.Length != theirs.Length)
        {
            return false;
        }

        for (var i = 0; i < mine.Length; i++)
        {
            var (a, b) = (mine[i], theirs[i]);
            if (a.Name != b.Name || !a.Hash.AsSpan().SequenceEqual(b.Hash) || !a.Permissions.SetEquals(b.Permissions)
                || (a.EntityTypes is null) != (b.EntityTypes is null) || (a.EntityTypes is not null && !a.EntityTypes.SetEquals(b.EntityTypes!)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The credential whose hash matches <paramref name="key"/>, or null. Every configured hash is compared with
    /// <see cref="CryptographicOperations.FixedTimeEquals"/>, with no early exit, so timing says nothing about the hashes.
    /// </summary>
    public ApiKeyCredential? Find(ReadOnlySpan<char> key)
    {
        if (key.IsEmpty || key.Length > ApiKeyHash.MaxKeyLength)
        {
            return null;
        }

        Span<byte> hash = stackalloc byte[ApiKeyHash.Length];
        ApiKeyHash.Compute(key, hash);
        ApiKeyCredential? found = null;
        foreach (var credential in _credentials)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, credential.Hash))
            {
                found = credential;
            }
        }

        return found;
    }

    /// <summary>The token a call carries as <c>authorization: Bearer TOKEN</c>, or null.</summary>
    public static string? ReadBearerToken(Metadata headers)
    {
        foreach (var entry in headers)
        {
            if (!entry.IsBinary && string.Equals(entry.Key, "authorization", StringComparison.OrdinalIgnoreCase)
                && entry.Value.StartsWith(BearerScheme, StringComparison.OrdinalIgnoreCase))
            {
                return entry.Value[BearerScheme.Length..].Trim();
            }
        }

        return null;
    }

    /// <summary>The key a call carries: <c>authorization: ApiKey KEY</c>, else <c>x-api-key: KEY</c>; null when neither is there.</summary>
    public static string? ReadPresentedKey(Metadata headers)
    {
        string? fromHeader = null;
        foreach (var entry in headers)
        {
            if (entry.IsBinary)
            {
                continue;
            }

            if (string.Equals(entry.Key, "authorization", StringComparison.OrdinalIgnoreCase))
            {
                if (entry.Value.StartsWith(ApiKeyScheme, StringComparison.OrdinalIgnoreCase))
                {
                    return entry.Value[ApiKeyScheme.Length..].Trim();
                }
            }
            else if (string.Equals(entry.Key, "x-api-key", StringComparison.OrdinalIgnoreCase))
            {
                fromHeader = entry.Value.Trim();
            }
        }

        return fromHeader;
    }
}
