using System.Collections;
using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Serving;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// The length bound of every string field of every request message (<c>docs/api.md</c>, "String bounds"), checked
/// before a service reads the request: a string past its bound is INVALID_ARGUMENT with a field violation on its
/// path, whatever the call would have done with it. A request string field missing from <see cref="Bounds"/> fails
/// <c>RequestStringBoundsTests</c>, so a new field cannot arrive unbounded.
/// </summary>
public sealed class RequestStringBounds
{
    /// <summary>What a string field holds, which decides its bound.</summary>
    public enum Kind
    {
        /// <summary>A definition name (entity type, source, view, feature, service, request field): <see cref="DefinitionLimits.MaxNameLength"/>.</summary>
        Name,

        /// <summary>A <c>view:feature</c> reference: <see cref="LookupPlan.MaxFeatureReferenceLength"/>.</summary>
        FeatureReference,

        /// <summary>An entity key: <c>FeatureStore:Limits:MaxKeyLength</c>.</summary>
        Key,

        /// <summary>A string value (a request field's value): <c>FeatureStore:Limits:MaxStringFieldLength</c>.</summary>
        StringValue,

        /// <summary>A definition document's name: <see cref="DefinitionLimits.MaxDocumentNameLength"/>.</summary>
        DocumentName,

        /// <summary>
        /// Bounded by the service after checks that must come first: an event's strings are answered per event
        /// (REJECTED, <c>EventAdmission</c>); a document's YAML by <c>DocumentPrescan</c> after the registry version check.
        /// </summary>
        CheckedByService,
    }

    /// <summary>Every string field of the request messages (and what they contain), by full message name and field name.</summary>
    public static readonly IReadOnlyDictionary<string, Kind> Bounds = new Dictionary<string, Kind>(StringComparer.Ordinal)
    {
        ["orleansfeatures.v1.GetOnlineFeaturesRequest.entity_type"] = Kind.Name,
        ["orleansfeatures.v1.GetOnlineFeaturesRequest.entity_ids"] = Kind.Key,
        ["orleansfeatures.v1.GetOnlineFeaturesRequest.feature_service"] = Kind.Name,
        ["orleansfeatures.v1.FeatureReferences.references"] = Kind.FeatureReference,
        ["orleansfeatures.v1.GetInferenceInputsRequest.feature_service"] = Kind.Name,
        ["orleansfeatures.v1.EntityKeyColumn.entity_type"] = Kind.Name,
        ["orleansfeatures.v1.EntityKeyColumn.ids"] = Kind.Key,
        ["orleansfeatures.v1.RequestFieldColumn.name"] = Kind.Name,
        ["orleansfeatures.v1.Value.string_value"] = Kind.StringValue,
        ["orleansfeatures.v1.PushEventsRequest.source"] = Kind.Name,
        ["orleansfeatures.v1.PushEventsRequest.events"] = Kind.CheckedByService,
        ["orleansfeatures.v1.DefinitionDocument.name"] = Kind.DocumentName,
        ["orleansfeatures.v1.DefinitionDocument.yaml"] = Kind.CheckedByService,
        ["orleansfeatures.v1.GetFeatureViewRequest.name"] = Kind.Name,
        ["orleansfeatures.v1.GetFeatureServiceRequest.name"] = Kind.Name,
    };

    private readonly EventLimits _limits;

    public RequestStringBounds(EventLimits limits) => _limits = limits;

    // Per message type, the fields the walk visits and their kinds: built once, not per request.
    private static readonly ConcurrentDictionary<MessageDescriptor, (FieldDescriptor Field, Kind Kind)[]> Plans = new();

    /// <summary>Every string of <paramref name="request"/> past its bound, or null when all are within.</summary>
    public RequestError? Check(IMessage request)
    {
        // Every request passes this on its way in (lookups included): field paths are formatted only for a request
        // that has a violation to report.
        if (!Exceeds(request))
        {
            return null;
        }

        ViolationList? violations = null;
        Walk(request, "", ref violations);
        return violations?.ToError();
    }

    private static (FieldDescriptor Field, Kind Kind)[] PlanOf(MessageDescriptor descriptor) =>
        Plans.GetOrAdd(descriptor, static descriptor =>
        {
            var plan = new List<(FieldDescriptor, Kind)>();
            foreach (var field in descriptor.Fields.InFieldNumberOrder())
            {
                if (field.FieldType is not (FieldType.String or FieldType.Message) || field.IsMap)
                {
                    continue;
                }

                // A field missing from Bounds is a Name (RequestStringBoundsTests keeps Bounds complete).
                Bounds.TryGetValue($"{descriptor.FullName}.{field.Name}", out var kind);
                if (kind != Kind.CheckedByService)
                {
                    plan.Add((field, kind));
                }
            }

            return [.. plan];
        });

    // A message-typed member of a oneof is walked only when it is the case set.
    private static bool IsUnsetOneofCase(IMessage message, FieldDescriptor field) =>
        field.FieldType == FieldType.Message && field.ContainingOneof is { } oneof && oneof.Accessor.GetCaseFieldDescriptor(message) != field;

    private bool Exceeds(IMessage message)
    {
        foreach (var (field, kind) in PlanOf(message.Descriptor))
        {
            if (IsUnsetOneofCase(message, field))
            {
                continue;
            }

            var value = field.Accessor.GetValue(message);
            if (field.FieldType == FieldType.Message)
            {
                if (field.IsRepeated)
                {
                    foreach (IMessage item in (IList)value)
                    {
                        if (Exceeds(item))
                        {
                            return true;
                        }
                    }
                }
                else if (value is IMessage nested && Exceeds(nested))
                {
                    return true;
                }

                continue;
            }

            var limit = LimitOf(kind).Limit;
            if (field.IsRepeated)
            {
                foreach (var text in (IList<string>)value)
                {
                    if (text.Length > limit)
                    {
                        return true;
                    }
                }
            }
            else if (((string)value).Length > limit)
            {
                return true;
            }
        }

        return false;
    }

    private void Walk(IMessage message, string path, ref ViolationList? violations)
    {
        var descriptor = message.Descriptor;
        foreach (var (field, kind) in PlanOf(descriptor))
        {
            if (IsUnsetOneofCase(message, field))
            {
                continue;
            }

            var at = path.Length == 0 ? field.Name : $"{path}.{field.Name}";
            var value = field.Accessor.GetValue(message);
            if (field.FieldType == FieldType.Message)
            {
                if (field.IsRepeated)
                {
                    var i = 0;
                    foreach (IMessage item in (IList)value)
                    {
                        Walk(item, $"{at}[{i++}]", ref violations);
                    }
                }
                else if (value is IMessage nested)
                {
                    Walk(nested, at, ref violations);
                }

                continue;
            }

            // A Value's string is reported on the Value, the path every other violation of a value uses.
            var reportAt = descriptor.FullName == "orleansfeatures.v1.Value" ? path : at;
            if (field.IsRepeated)
            {
                var list = (IList<string>)value;
                for (var i = 0; i < list.Count; i++)
                {
                    CheckLength(list[i], kind, $"{reportAt}[{i}]", ref violations);
                }
            }
            else
            {
                CheckLength((string)value, kind, reportAt, ref violations);
            }
        }
    }

    private (int Limit, string Setting) LimitOf(Kind kind) => kind switch
    {
        Kind.FeatureReference => (LookupPlan.MaxFeatureReferenceLength, ""),
        Kind.Key => (_limits.MaxKeyLength, " (FeatureStore:Limits:MaxKeyLength)"),
        Kind.StringValue => (_limits.MaxStringFieldLength, " (FeatureStore:Limits:MaxStringFieldLength)"),
        Kind.DocumentName => (DefinitionLimits.MaxDocumentNameLength, ""),
        _ => (DefinitionLimits.MaxNameLength, ""),
    };

    private void CheckLength(string text, Kind kind, string path, ref ViolationList? violations)
    {
        var (limit, setting) = LimitOf(kind);
        if (text.Length > limit)
        {
            (violations ??= new ViolationList()).Add(path, $"is {text.Length} characters; the limit is {limit}{setting}");
        }
    }
}
