using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using OrleansFeatures.Core;
using OrleansFeatures.Core.Serving;
using StatusCode = Grpc.Core.StatusCode;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// The gateway's gRPC errors. Every INVALID_ARGUMENT carries a google.rpc.BadRequest with one field violation per
/// bad field, and a readable message that repeats them. Messages and details travel in HTTP/2 trailers, where a large
/// one breaks the response (and, with some clients, the other calls on the connection): client text goes in through
/// <see cref="Echo"/>, every message is capped at <see cref="MaxMessageLength"/> and every description at
/// <see cref="MaxDescriptionLength"/>, and a <see cref="RequestError"/> holds at most 20 violations.
/// </summary>
internal static class RpcErrors
{
    /// <summary>Characters in one status message.</summary>
    public const int MaxMessageLength = 8_192;

    /// <summary>Characters in one field violation's description.</summary>
    public const int MaxDescriptionLength = 256;

    /// <summary>INVALID_ARGUMENT for one bad field (its path in the request, e.g. <c>entity_ids[3]</c>).</summary>
    public static RpcException InvalidArgument(string field, string description) =>
        From(RequestError.Invalid(field, description));

    public static RpcException NotFound(string message) => Create(StatusCode.NotFound, message);

    public static RpcException FailedPrecondition(string message) => Create(StatusCode.FailedPrecondition, message);

    public static RpcException Aborted(string message) => Create(StatusCode.Aborted, message);

    public static RpcException Unavailable(string message) => Create(StatusCode.Unavailable, message);

    /// <summary>The status for a request core refused: INVALID_ARGUMENT with its violations, or NOT_FOUND / FAILED_PRECONDITION.</summary>
    public static RpcException From(RequestError error)
    {
        var message = EchoedText.Shorten(error.Message, MaxMessageLength);
        var code = error.Kind switch
        {
            RequestErrorKind.InvalidArgument => StatusCode.InvalidArgument,
            RequestErrorKind.NotFound => StatusCode.NotFound,
            _ => StatusCode.FailedPrecondition,
        };
        if (code != StatusCode.InvalidArgument)
        {
            return Create(code, message);
        }

        var badRequest = new BadRequest();
        foreach (var violation in error.Violations)
        {
            badRequest.FieldViolations.Add(new BadRequest.Types.FieldViolation
            {
                Field = violation.Field,
                Description = EchoedText.Shorten(violation.Description, MaxDescriptionLength),
            });
        }

        var status = new Google.Rpc.Status { Code = (int)code, Message = message };
        status.Details.Add(Any.Pack(badRequest));
        return status.ToRpcException();
    }

    /// <summary>Client-supplied text (a name, a reference) as it may appear in a message: cut to 128 characters with its length.</summary>
    public static string Echo(string? text) => EchoedText.Shorten(text);

    private static RpcException Create(StatusCode code, string message) =>
        new(new Grpc.Core.Status(code, EchoedText.Shorten(message, MaxMessageLength)));
}
