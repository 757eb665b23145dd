using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Gateway.Security;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// Refuses a request with a string past its bound (<see cref="RequestStringBounds"/>) before its service runs, for gRPC
/// and HTTP/JSON alike; it runs after access control, so an unauthenticated caller learns nothing of its request.
/// </summary>
public sealed class RequestBoundsInterceptor(IOptions<EventLimits> limits) : Interceptor
{
    private readonly RequestStringBounds _bounds = new(limits.Value);

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request,
        ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        if (RpcAccess.IsFeatureStoreMethod(context.Method) && request is IMessage message && _bounds.Check(message) is { } error)
        {
            throw RpcErrors.From(error);
        }

        return continuation(request, context);
    }
}
