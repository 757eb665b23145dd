using System.Text;

namespace OrleansFeatures.Core.Serving;

/// <summary>How a refused request is answered: the kind maps to one gRPC status at the edge.</summary>
public enum RequestErrorKind
{
    /// <summary>The request itself is malformed; every violation names the field.</summary>
    InvalidArgument,

    /// <summary>It names something the registry version does not define.</summary>
    NotFound,

    /// <summary>It is well formed, but the definitions cannot serve it this way.</summary>
    FailedPrecondition,
}

/// <summary>One bad field: its path in the request (<c>entity_ids[3]</c>) and what is wrong with it.</summary>
public readonly record struct FieldViolation(string Field, string Description)
{
    public override string ToString() => Field.Length == 0 ? Description : $"{Field}: {Description}";
}

/// <summary>Why a request was refused: a kind and one violation per bad field (at most <see cref="MaxViolations"/>).</summary>
public sealed class RequestError
{
    /// <summary>Violations kept per error: they travel in the response's trailers, which must stay small.</summary>
    public const int MaxViolations = 20;

    public RequestError(RequestErrorKind kind, IReadOnlyList<FieldViolation> violations, int omitted = 0)
    {
        Kind = kind;
        Violations = violations;
        Omitted = omitted;
    }

    public RequestErrorKind Kind { get; }

    public IReadOnlyList<FieldViolation> Violations { get; }

    /// <summary>Violations found beyond <see cref="MaxViolations"/> and left out.</summary>
    public int Omitted { get; }

    /// <summary>The readable status message: the violations, one after another.</summary>
    public string Message
    {
        get
        {
            var text = new StringBuilder();
            foreach (var violation in Violations)
            {
                if (text.Length > 0)
                {
                    text.Append("; ");
                }

                text.Append(violation.ToString());
            }

            if (Omitted > 0)
            {
                text.Append("; and ").Append(Omitted).Append(" more");
            }

            return text.ToString();
        }
    }

    public static RequestError Invalid(string field, string description) => new(RequestErrorKind.InvalidArgument, [new FieldViolation(field, description)]);

    public static RequestError NotFound(string field, string description) => new(RequestErrorKind.NotFound, [new FieldViolation(field, description)]);

    public static RequestError FailedPrecondition(string field, string description) => new(RequestErrorKind.FailedPrecondition, [new FieldViolation(field, description)]);

    public override string ToString() => $"{Kind}: {Message}";
}

/// <summary>Collects the violations of one request, keeping the first <see cref="RequestError.MaxViolations"/>.</summary>
public sealed class ViolationList
{
    // Created at the first violation: a valid request (every lookup on the hot path) allocates no list.
    private List<FieldViolation>? _violations;
    private int _omitted;

    public bool Any => _violations is { Count: > 0 };

    public void Add(string field, string description)
    {
        _violations ??= [];
        if (_violations.Count < RequestError.MaxViolations)
        {
            _violations.Add(new FieldViolation(field, description));
        }
        else
        {
            _omitted++;
        }
    }

    /// <summary>An INVALID_ARGUMENT error with everything collected; null when nothing was.</summary>
    public RequestError? ToError() => _violations is { Count: > 0 } violations ? new RequestError(RequestErrorKind.InvalidArgument, [.. violations], _omitted) : null;
}
