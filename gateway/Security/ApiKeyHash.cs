using System.Security.Cryptography;
using System.Text;

namespace OrleansFeatures.Gateway.Security;

/// <summary>
/// SHA-256 of an API key, the form in which keys are configured. Keys are random secrets (32 bytes from a CSPRNG), so
/// an unsalted fast hash is enough: there is no dictionary to try, and each call hashes in well under a microsecond.
/// </summary>
public static class ApiKeyHash
{
    public const int Length = 32;

    /// <summary>Longest key accepted from a caller, so a huge header costs nothing to refuse.</summary>
    public const int MaxKeyLength = 512;

    /// <summary>Reads a configured hash: 64 hex digits (either case) or the base64 of 32 bytes.</summary>
    public static bool TryParse(string? text, out byte[] hash)
    {
        hash = [];
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var trimmed = text.Trim();
        if (trimmed.Length == 2 * Length)
        {
            try
            {
                hash = Convert.FromHexString(trimmed);
                return true;
            }
            catch (FormatException)
            {
                // Not hex; 64 characters cannot be the base64 of 32 bytes either.
                return false;
            }
        }

        Span<byte> buffer = stackalloc byte[Length + 3];
        if (Convert.TryFromBase64String(trimmed, buffer, out var written) && written == Length)
        {
            hash = buffer[..Length].ToArray();
            return true;
        }

        return false;
    }

    /// <summary>Hashes the UTF-8 bytes of a key into <paramref name="destination"/> (32 bytes).</summary>
    public static void Compute(ReadOnlySpan<char> key, Span<byte> destination)
    {
        var byteCount = Encoding.UTF8.GetByteCount(key);
        Span<byte> utf8 = byteCount <= 1024 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(key, utf8);
        SHA256.HashData(utf8, destination);
    }
}
