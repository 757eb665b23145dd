using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Rpc;
using Grpc.Core;
using Microsoft.AspNetCore.Grpc.JsonTranscoding;
using OrleansFeatures.Core.Serving;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// Makes the HTTP/JSON routes as strict as proto3 JSON's default parser: a body field the request message does not
/// have (<c>"fromat"</c>) is answered 400 naming its path, and a body that is not the request as JSON gets one log
/// line at Debug, not the transcoder's stack trace at Information. JSON transcoding skips unknown fields and has no setting to refuse them, so the body is
/// checked here, before the transcoder reads it; like a gRPC body that is not the request message, it is refused
/// before any interceptor (API keys included) runs.
/// </summary>
internal sealed partial class StrictJsonRequests(RequestDelegate next, ILogger<StrictJsonRequests> logger)
{
    /// <summary>The transcoder's own text for a body that is not JSON, kept so both failures read alike.</summary>
    public const string NotJson = "Request JSON payload is not correctly formatted.";

    private const int MaxDepth = 64;

    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithRecursionLimit(MaxDepth));

    private static readonly JsonFormatter ErrorFormatter = new(JsonFormatter.Settings.Default.WithTypeRegistry(
        TypeRegistry.FromMessages(BadRequest.Descriptor)));

    public async Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<GrpcJsonTranscodingMetadata>() is not { } transcoded
            || transcoded.HttpRule.Body != "*"
            || context.Request.ContentLength == 0)
        {
            await next(context);
            return;
        }

        context.Request.EnableBuffering();
        string body;
        using (var reader = new StreamReader(context.Request.Body, leaveOpen: true))
        {
            body = await reader.ReadToEndAsync(context.RequestAborted);
        }

        var input = transcoded.MethodDescriptor.InputType;
        RequestError? error;
        try
        {
            using (var document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = MaxDepth }))
            {
                error = UnknownFields(document.RootElement, input);
            }

            // Values of the wrong type ("entityType": 5): proto3 JSON's own parser says which, in one line, where the
            // transcoder would log the exception's stack trace at Information.
            if (error is null)
            {
                Parser.Parse(body, input);
            }
        }
        catch (Exception exception) when (exception is JsonException or InvalidProtocolBufferException or InvalidJsonException)
        {
            LogNotJson(logger, transcoded.MethodDescriptor.FullName, exception.Message);
            error = RequestError.Invalid("", exception is JsonException ? NotJson : $"{NotJson} {exception.Message}");
        }

        if (error is not null)
        {
            await WriteInvalidArgumentAsync(context, error);
            return;
        }

        context.Request.Body.Position = 0;
        await next(context);
    }

    /// <summary>Every member of <paramref name="body"/> that is not a field of <paramref name="message"/>, at any depth, by its path.</summary>
    internal static RequestError? UnknownFields(JsonElement body, MessageDescriptor message)
    {
        var violations = new ViolationList();
        Walk(body, message, "", violations);
        return violations.ToError();
    }

    private static void Walk(JsonElement element, MessageDescriptor message, string path, ViolationList violations)
    {
        // Well-known types (Timestamp, Duration, Struct, wrappers) have JSON forms of their own; the transcoder checks them.
        if (element.ValueKind != JsonValueKind.Object || message.File.Package == "google.protobuf")
        {
            return;
        }

        foreach (var member in element.EnumerateObject())
        {
            var field = message.FindFieldByName(member.Name) ?? FindByJsonName(message, member.Name);
            if (field is null)
            {
                violations.Add(Join(path, member.Name), $"is not a field of {message.Name}");
                continue;
            }

            var at = Join(path, field.Name);
            if (field.IsMap)
            {
                var valueField = field.MessageType.FindFieldByNumber(2);
                if (valueField.FieldType == FieldType.Message && member.Value.ValueKind == JsonValueKind.Object)
                {
                    foreach (var entry in member.Value.EnumerateObject())
                    {
                        Walk(entry.Value, valueField.MessageType, $"{at}[{entry.Name}]", violations);
                    }
                }
            }
            else if (field.FieldType == FieldType.Message)
            {
                if (field.IsRepeated && member.Value.ValueKind == JsonValueKind.Array)
                {
                    var i = 0;
                    foreach (var item in member.Value.EnumerateArray())
                    {
                        Walk(item, field.MessageType, $"{at}[{i++}]", violations);
                    }
                }
                else
                {
                    Walk(member.Value, field.MessageType, at, violations);
                }
            }
        }
    }

    private static FieldDescriptor? FindByJsonName(MessageDescriptor message, string name)
    {
        foreach (var field in message.Fields.InDeclarationOrder())
        {
            if (string.Equals(field.JsonName, name, StringComparison.Ordinal))
            {
                return field;
            }
        }

        return null;
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    private static async Task WriteInvalidArgumentAsync(HttpContext context, RequestError error)
    {
        // The same body the transcoder writes for an RpcException: google.rpc.Status as JSON (docs/http-json.md, "Errors").
        var status = RpcErrors.From(error).GetRpcStatus()!;
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(ErrorFormatter.Format(status), context.RequestAborted);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Refused an HTTP/JSON call to {Method}: the body is not the request as JSON ({Problem})")]
    private static partial void LogNotJson(ILogger logger, string method, string problem);
}
