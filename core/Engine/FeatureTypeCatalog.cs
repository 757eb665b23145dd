using System.Reflection;
using System.Runtime.Loader;
using System.Text.RegularExpressions;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Sdk;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// The C# feature types one process has loaded, by <c>name@version</c>: a silo's (from
/// <c>FeatureStore:FeatureTypes:Directory</c> at start) or <c>ofs</c>'s (<c>--feature-types</c>). Views are compiled
/// against it (<see cref="CompiledFeatureView"/>); <see cref="Check"/> says which definitions it cannot serve.
/// </summary>
public sealed partial class FeatureTypeCatalog
{
    private readonly Dictionary<string, IFeatureType> _types = new(StringComparer.Ordinal);

    public FeatureTypeCatalog(IEnumerable<IFeatureType> types, IEnumerable<string>? sources = null)
    {
        foreach (var type in types)
        {
            if (!NamePattern().IsMatch(type.Name ?? "") || type.Version < 1)
            {
                throw new ArgumentException($"feature type '{type.Name}@{type.Version}' ({type.GetType().FullName}): a name is lower-case letters, digits and '_' starting with a letter, and a version is 1 or more");
            }

            if (type.ValueKind is not (FeatureValueKind.Int64 or FeatureValueKind.Double or FeatureValueKind.String or FeatureValueKind.Bool))
            {
                throw new ArgumentException($"feature type '{IdOf(type)}' ({type.GetType().FullName}) declares value kind {type.ValueKind}; it must be Int64, Double, String or Bool");
            }

            if (!_types.TryAdd(IdOf(type), type))
            {
                throw new ArgumentException($"feature type '{IdOf(type)}' is defined twice: by {_types[IdOf(type)].GetType().AssemblyQualifiedName} and by {type.GetType().AssemblyQualifiedName}");
            }
        }

        Sources = [.. sources ?? []];
    }

    public static FeatureTypeCatalog Empty { get; } = new([]);

    /// <summary>The loaded types' <c>name@version</c>, sorted.</summary>
    public IReadOnlyList<string> Ids => [.. _types.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The assembly files the types were loaded from.</summary>
    public IReadOnlyList<string> Sources { get; }

    public IFeatureType? Find(string id) => _types.GetValueOrDefault(id);

    public static string IdOf(IFeatureType type) => $"{type.Name}@{type.Version}";

    /// <summary>True for text of the form <c>name@version</c> (how definitions name a feature type).</summary>
    public static bool IsTypeId(string text) => IdPattern().IsMatch(text);

    /// <summary>
    /// Loads every public, non-abstract <see cref="IFeatureType"/> with a public parameterless constructor from the
    /// assemblies (<c>*.dll</c>) directly in <paramref name="directory"/>. A copy of the SDK or of the store's own
    /// assemblies in the folder is skipped: types must share the host's <see cref="IFeatureType"/>. Throws naming the
    /// folder, the file and the reason when the folder is missing or an assembly or type cannot be loaded.
    /// </summary>
    public static FeatureTypeCatalog LoadDirectory(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"feature type directory '{directory}' does not exist");
        }

        var types = new List<IFeatureType>();
        var sources = new List<string>();
        foreach (var file in Directory.GetFiles(directory, "*.dll").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            if (name.StartsWith("OrleansFeatures.", StringComparison.Ordinal) && IsHostAssembly(name))
            {
                continue;
            }

            Assembly assembly;
            Type[] exported;
            try
            {
                // An assembly of that name already in the process (a host that references it, a second load) is used as is.
                assembly = Loaded(name) ?? AssemblyLoadContext.Default.LoadFromAssemblyPath(Path.GetFullPath(file));
                exported = assembly.GetExportedTypes();
            }
            catch (Exception exception) when (exception is BadImageFormatException or FileLoadException or FileNotFoundException or ReflectionTypeLoadException or TypeLoadException)
            {
                throw new InvalidOperationException($"feature type directory '{directory}': {Path.GetFileName(file)} cannot be loaded: {exception.Message}", exception);
            }

            var found = 0;
            foreach (var type in exported)
            {
                if (!type.IsClass || type.IsAbstract || type.ContainsGenericParameters || !typeof(IFeatureType).IsAssignableFrom(type))
                {
                    continue;
                }

                if (type.GetConstructor(Type.EmptyTypes) is null)
                {
                    throw new InvalidOperationException($"feature type directory '{directory}': {type.FullName} in {Path.GetFileName(file)} has no public parameterless constructor");
                }

                types.Add((IFeatureType)Activator.CreateInstance(type)!);
                found++;
            }

            if (found > 0)
            {
                sources.Add(Path.GetFileName(file));
            }
        }

        return new FeatureTypeCatalog(types, sources);
    }

    private static bool IsHostAssembly(string name) => Loaded(name) is not null || name == "OrleansFeatures.Sdk";

    private static Assembly? Loaded(string name)
    {
        foreach (var loaded in AssemblyLoadContext.Default.Assemblies)
        {
            if (string.Equals(loaded.GetName().Name, name, StringComparison.Ordinal))
            {
                return loaded;
            }
        }

        return null;
    }

    /// <summary>
    /// What this catalog cannot serve in <paramref name="set"/>, one message per feature: a feature type that is not
    /// loaded, one whose value kind differs from the feature's declared type, or one reading numbers of a field that
    /// is not numeric. Empty when every feature of every view can be compiled.
    /// </summary>
    public IReadOnlyList<string> Check(DefinitionSet set)
    {
        var problems = new List<string>();
        foreach (var view in set.FeatureViews.Values)
        {
            foreach (var feature in view.Features)
            {
                if (Problem(view, feature) is { } problem)
                {
                    problems.Add($"feature_views.{view.Name}.features.{feature.Name}: {problem}");
                }
            }
        }

        return problems;
    }

    /// <summary>Why <paramref name="feature"/> cannot be compiled against this catalog; null when it can.</summary>
    internal string? Problem(FeatureViewDefinition view, FeatureDefinition feature)
    {
        if (feature.Aggregation != AggregationKind.Plugin)
        {
            return null;
        }

        if (Find(feature.FeatureType!) is not { } type)
        {
            return $"feature type '{feature.FeatureType}' is not loaded (loaded: {(_types.Count == 0 ? "none" : string.Join(", ", Ids))})";
        }

        if ((ScalarKind)type.ValueKind != feature.Type)
        {
            return $"feature type '{feature.FeatureType}' serves {EventSchema.KindName((ScalarKind)type.ValueKind)}; the feature declares type {EventSchema.KindName(feature.Type)}";
        }

        if (type.Input == FeatureInput.Numbers && feature.Field is { } field
            && view.Source.Fields.TryGetValue(field, out var kind) && kind is not (ScalarKind.Int64 or ScalarKind.Double))
        {
            return $"feature type '{feature.FeatureType}' reads numbers; '{field}' is {EventSchema.KindName(kind)}";
        }

        return null;
    }

    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}@[1-9][0-9]{0,8}$")]
    private static partial Regex IdPattern();
}

/// <summary>A view names a C# feature type this process has not loaded (or cannot serve as declared).</summary>
public sealed class FeatureTypeNotLoadedException(string message) : Exception(message);
