using System.Text;
using System.Text.RegularExpressions;

namespace OrleansFeatures.Offline.Lake;

/// <summary>
/// A Blob or Data Lake location: <c>https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH</c>, the Data Lake forms
/// <c>https://ACCOUNT.dfs.core.windows.net/CONTAINER/PATH</c> and <c>abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH</c>
/// (read through the Blob endpoint, which a hierarchical-namespace account also serves), or an emulator's path-style
/// <c>http://127.0.0.1:10000/ACCOUNT/CONTAINER/PATH</c>. PATH is one blob, a prefix (ending in <c>/</c>: every blob
/// under it), or a glob: <c>*</c> and <c>?</c> within a path segment, <c>**</c> across segments.
/// </summary>
public sealed class LakePath
{
    private readonly Regex? _glob;

    private LakePath(Uri serviceUri, string container, string path)
    {
        ServiceUri = serviceUri;
        Container = container;
        Path = path;
        var wildcard = path.IndexOfAny(['*', '?']);
        if (wildcard >= 0)
        {
            Prefix = path[..(path.LastIndexOf('/', wildcard) + 1)];
            _glob = new Regex(GlobToRegex(path), RegexOptions.CultureInvariant);
        }
        else
        {
            Prefix = path;
        }
    }

    /// <summary>The Blob service endpoint, e.g. <c>https://ACCOUNT.blob.core.windows.net</c> (for a credential; a connection string names its own).</summary>
    public Uri ServiceUri { get; }

    public string Container { get; }

    /// <summary>The blob name, prefix or glob inside the container.</summary>
    public string Path { get; }

    /// <summary>The part of <see cref="Path"/> before any wildcard's segment: what the listing asks the service for.</summary>
    public string Prefix { get; }

    public bool IsGlob => _glob is not null;

    /// <summary>The lake location <paramref name="text"/> names, or null for a local path.</summary>
    public static LakePath? TryParse(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.IsFile || uri.Scheme is not ("https" or "http" or "abfss" or "abfs" or "wasbs" or "wasb"))
        {
            return null;
        }

        var segments = Uri.UnescapeDataString(uri.AbsolutePath).TrimStart('/');
        if (uri.Scheme is "abfss" or "abfs" or "wasbs" or "wasb")
        {
            // CONTAINER@ACCOUNT.dfs.core.windows.net/PATH
            if (string.IsNullOrEmpty(uri.UserInfo))
            {
                throw new ArgumentException($"{text}: an {uri.Scheme} URI names its container before the account (CONTAINER@ACCOUNT.dfs.core.windows.net/PATH)");
            }

            var scheme = uri.Scheme is "abfs" or "wasb" ? "http" : "https";
            return new LakePath(new Uri($"{scheme}://{BlobHost(uri.Host)}"), uri.UserInfo, segments);
        }

        var parts = segments.Split('/', 2);
        if (uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 || uri.IsLoopback)
        {
            // Path-style (the emulator): /ACCOUNT/CONTAINER/PATH.
            var account = parts[0];
            var rest = parts.Length > 1 ? parts[1].Split('/', 2) : [""];
            if (account.Length == 0 || rest[0].Length == 0)
            {
                throw new ArgumentException($"{text}: a path-style URI is http://HOST:PORT/ACCOUNT/CONTAINER/PATH");
            }

            return new LakePath(new Uri($"{uri.Scheme}://{uri.Authority}/{account}"), rest[0], rest.Length > 1 ? rest[1] : "");
        }

        if (parts[0].Length == 0)
        {
            throw new ArgumentException($"{text}: no container (https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH)");
        }

        return new LakePath(new Uri($"{uri.Scheme}://{BlobHost(uri.Authority)}"), parts[0], parts.Length > 1 ? parts[1] : "");
    }

    /// <summary>Whether the blob <paramref name="name"/> is part of this location (under the prefix, or matching the glob).</summary>
    public bool Matches(string name) =>
        _glob is not null ? _glob.IsMatch(name)
        : Path.Length == 0 || Path.EndsWith('/') ? name.StartsWith(Path, StringComparison.Ordinal)
        : name == Path || name.StartsWith(Path + "/", StringComparison.Ordinal);

    /// <summary>The blob <paramref name="name"/> relative to the location's folder: where a staged copy goes.</summary>
    public string Relative(string name)
    {
        var folder = IsGlob ? Prefix : Path.Length == 0 || Path.EndsWith('/') ? Path : name == Path ? Path[..(Path.LastIndexOf('/') + 1)] : Path + "/";
        return name[folder.Length..];
    }

    /// <summary>This location with <paramref name="child"/> appended (a file inside a folder location).</summary>
    public LakePath Child(string child) => new(ServiceUri, Container, Path.Length == 0 || Path.EndsWith('/') ? Path + child : Path + "/" + child);

    public override string ToString() => $"{ServiceUri.ToString().TrimEnd('/')}/{Container}/{Path}";

    private static string BlobHost(string host) => host.Replace(".dfs.", ".blob.", StringComparison.OrdinalIgnoreCase);

    private static string GlobToRegex(string glob)
    {
        var pattern = new StringBuilder("^");
        for (var i = 0; i < glob.Length; i++)
        {
            var c = glob[i];
            if (c == '*' && i + 1 < glob.Length && glob[i + 1] == '*')
            {
                // "**/" matches zero or more whole segments; a trailing "**" anything.
                var slash = i + 2 < glob.Length && glob[i + 2] == '/';
                pattern.Append(slash ? "(?:.*/)?" : ".*");
                i += slash ? 2 : 1;
            }
            else
            {
                pattern.Append(c switch { '*' => "[^/]*", '?' => "[^/]", _ => Regex.Escape(c.ToString()) });
            }
        }

        return pattern.Append('$').ToString();
    }
}
