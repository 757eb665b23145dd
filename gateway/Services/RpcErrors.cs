using Grpc.Core;
using OrleansFeatures.Core;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// The gateway's gRPC errors, each with a message that names the bad field. Messages travel in an HTTP/2 header,
/// where a large one breaks the response (and, with some clients, the other calls on the connection): client text
/// goes in through <see cref="Echo"/> and every message is capped at <see cref="MaxMessageLength"/>.
/// </summary>
internal static class RpcErrors
{
    /// <summary>Characters in one status message.</summary>
    public const int MaxMessageLength = 8_192;

    public static RpcException InvalidArgument(string message) => Create(StatusCode.InvalidArgument, message);

    public static RpcException NotFound(string message) => Create(StatusCode.NotFound, message);

    public static RpcException FailedPrecondition(string message) => Create(StatusCode.FailedPrecondition, message);

    public static RpcException Aborted(string message) => Create(StatusCode.Aborted, message);

    public static RpcException Unavailable(string message) => Create(StatusCode.Unavailable, message);

    /// <summary>Client-supplied text (a name, a reference) as it may appear in a message: cut to 128 characters with its length.</summary>
    public static string Echo(string? text) => EchoedText.Shorten(text);

    private static RpcException Create(StatusCode code, string message) =>
        new(new Status(code, EchoedText.Shorten(message, MaxMessageLength)));
}
