using System.Text;
using Google.Protobuf;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;
using Grpc.Core;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// Binds the gateway's services with request deserializers that turn an unreadable body (bytes that are not the
/// request message, a string field that is not UTF-8) into INVALID_ARGUMENT. Grpc.AspNetCore reads the request
/// before any interceptor runs and maps every exception but <see cref="RpcException"/> to UNKNOWN "Exception was
/// thrown by handler.", so the deserializer itself is the one place to say what was wrong.
/// The field violation of such an error has an empty field: the whole body is bad, not one field of it.
/// It also gives GetOnlineFeatures the response marshaller that writes an answer encoded without messages.
/// Each service names its nested class here in <see cref="BindServiceMethodAttribute"/>, which gRPC looks up on the
/// most derived type first. A bind method takes the generated base type, because gRPC matches the service's methods
/// to the type of that parameter; its class also exposes the service's <c>Descriptor</c>, because JSON transcoding
/// reads the HTTP routes (<c>google.api.http</c>) from the descriptor of the type that declares the bind method.
/// </summary>
public sealed class MalformedRequestBinder(ServiceBinderBase inner) : ServiceBinderBase
{
    /// <summary>Binds <see cref="V1.FeatureServing"/>.</summary>
    public static class Serving
    {
        public static ServiceDescriptor Descriptor => V1.FeatureServing.Descriptor;

        public static void BindService(ServiceBinderBase binder, V1.FeatureServing.FeatureServingBase service) =>
            V1.FeatureServing.BindService(new MalformedRequestBinder(binder), service);
    }

    /// <summary>Binds <see cref="V1.FeatureIngestion"/>.</summary>
    public static class Ingestion
    {
        public static ServiceDescriptor Descriptor => V1.FeatureIngestion.Descriptor;

        public static void BindService(ServiceBinderBase binder, V1.FeatureIngestion.FeatureIngestionBase service) =>
            V1.FeatureIngestion.BindService(new MalformedRequestBinder(binder), service);
    }

    /// <summary>Binds <see cref="V1.FeatureRegistry"/>.</summary>
    public static class Registry
    {
        public static ServiceDescriptor Descriptor => V1.FeatureRegistry.Descriptor;

        public static void BindService(ServiceBinderBase binder, V1.FeatureRegistry.FeatureRegistryBase service) =>
            V1.FeatureRegistry.BindService(new MalformedRequestBinder(binder), service);
    }

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Guarded(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Guarded(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Guarded(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Guarded(method), handler);

    private static Method<TRequest, TResponse> Guarded<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class
        where TResponse : class
    {
        var deserialize = method.RequestMarshaller.ContextualDeserializer;
        var name = method.FullName;
        var requestMarshaller = new Marshaller<TRequest>(method.RequestMarshaller.ContextualSerializer, context =>
        {
            try
            {
                return deserialize(context);
            }
            catch (InvalidProtocolBufferException exception)
            {
                throw RpcErrors.InvalidArgument("", $"the request body of {name} is not a valid {typeof(TRequest).Name} message: {exception.Message}");
            }
            catch (DecoderFallbackException)
            {
                throw RpcErrors.InvalidArgument("", $"the request body of {name} has a string field that is not valid UTF-8");
            }
        });
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, requestMarshaller, ResponseMarshaller(method.ResponseMarshaller));
    }

    // A lookup answer may come encoded already (GetOnlineFeaturesResponse.Encoded.cs): write its bytes, else the message.
    private static Marshaller<TResponse> ResponseMarshaller<TResponse>(Marshaller<TResponse> inner)
        where TResponse : class
    {
        if (typeof(TResponse) != typeof(V1.GetOnlineFeaturesResponse))
        {
            return inner;
        }

        var serialize = inner.ContextualSerializer;
        return new Marshaller<TResponse>(
            (response, context) =>
            {
                if (!((V1.GetOnlineFeaturesResponse)(object)response).TryWriteEncoded(context))
                {
                    serialize(response, context);
                }
            },
            inner.ContextualDeserializer);
    }
}
