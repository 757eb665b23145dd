using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.V1;

namespace OrleansFeatures.Gateway.Security;

/// <summary>
/// Admits a call to the feature services only on its role's endpoint and, with authentication on, only for an API key or
/// bearer token that grants the RPC's permission and covers the entity types it touches. Everything is decided before the service runs,
/// from the request and the local definition catalog, so a refusal never depends on whether an entity exists.
/// Health and reflection pass untouched.
/// </summary>
public sealed partial class AccessControlInterceptor(
    IOptions<AuthOptions> options,
    ApiKeyRing keys,
    EndpointRoles endpoints,
    DefinitionCatalog catalog,
    ILogger<AccessControlInterceptor> logger,
    BearerTokenValidator? tokens = null) : Interceptor
{
    private readonly AuthMode _mode = options.Value.Mode;

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request,
        ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var method = context.Method;
        if (!RpcAccess.IsFeatureStoreMethod(method))
        {
            return await continuation(request, context);
        }

        if (!RpcAccess.ByMethod.TryGetValue(method, out var access))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "this method has no access rule"));
        }

        if (!endpoints.AllShared && !endpoints.Serves(access.Role, context.GetHttpContext().Connection.LocalPort))
        {
            throw new RpcException(new Status(StatusCode.Unimplemented, $"{method} is not served on this endpoint"));
        }

        if (_mode != AuthMode.None)
        {
            await AuthorizeAsync(request, context, method, access);
        }

        return await continuation(request, context);
    }

    private async ValueTask AuthorizeAsync<TRequest>(TRequest request, ServerCallContext context, string method, RpcAccess access)
    {
        var credential = await AuthenticateAsync(context.RequestHeaders, method, context.CancellationToken);
        if (!credential.Allows(access.Permission))
        {
            LogDenied(logger, credential.Name, method, access.Permission);
            throw new RpcException(new Status(StatusCode.PermissionDenied, credential.LacksPermission(access.Permission)));
        }

        if (credential.EntityTypes is null)
        {
            return;
        }

        var covered = access.Scope switch
        {
            EntityScope.RequestEntityType => request is GetOnlineFeaturesRequest lookup && credential.Covers(lookup.EntityType),
            EntityScope.SourceEntityTypes => request is PushEventsRequest push && await CoversSourceAsync(credential, push.Source, context.CancellationToken),
            EntityScope.ServiceEntityTypes => request is GetInferenceInputsRequest inference && await CoversServiceAsync(credential, inference.FeatureService, context.CancellationToken),
            _ => false,
        };
        if (!covered)
        {
            LogDenied(logger, credential.Name, method, access.Permission);
            throw new RpcException(new Status(StatusCode.PermissionDenied, credential.OutOfScope));
        }
    }

    /// <summary>Who is calling, from a bearer token or an API key as the mode allows; UNAUTHENTICATED otherwise.</summary>
    private async ValueTask<AccessGrant> AuthenticateAsync(Metadata headers, string method, CancellationToken cancellationToken)
    {
        if (_mode.AcceptsJwt() && ApiKeyRing.ReadBearerToken(headers) is { } token)
        {
            var (grant, refusal, keysUnavailable) = await tokens!.ValidateAsync(token, cancellationToken);
            if (grant is null)
            {
                LogInvalidToken(logger, method, refusal!);
                throw new RpcException(new Status(keysUnavailable ? StatusCode.Unavailable : StatusCode.Unauthenticated, refusal!));
            }

            return grant;
        }

        var presented = _mode.AcceptsApiKeys() ? ApiKeyRing.ReadPresentedKey(headers) : null;
        if (presented is null)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, _mode switch
            {
                AuthMode.Jwt => "a bearer token is required: send 'authorization: Bearer TOKEN'",
                AuthMode.ApiKeysAndJwt => "an API key or a bearer token is required: send 'authorization: ApiKey KEY', 'x-api-key: KEY' or 'authorization: Bearer TOKEN'",
                _ => "an API key is required: send 'authorization: ApiKey KEY' or 'x-api-key: KEY'",
            }));
        }

        var credential = keys.Find(presented);
        if (credential is null)
        {
            LogUnknownKey(logger, method);
            throw new RpcException(new Status(StatusCode.Unauthenticated, "the API key is not valid"));
        }

        return credential;
    }

    /// <summary>A feature service is covered when every entity type it reads is in scope.</summary>
    private async ValueTask<bool> CoversServiceAsync(AccessGrant credential, string service, CancellationToken cancellationToken)
    {
        if (!catalog.Current.Set.FeatureServices.TryGetValue(service, out var definition)
            && !(await catalog.RefreshAsync(cancellationToken)).Set.FeatureServices.TryGetValue(service, out definition))
        {
            return false;
        }

        foreach (var entityType in definition.EntityTypes)
        {
            if (!credential.Covers(entityType))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A source is covered when it feeds at least one view and every view's entity type is in scope.</summary>
    private async ValueTask<bool> CoversSourceAsync(AccessGrant credential, string source, CancellationToken cancellationToken)
    {
        var views = catalog.Current.ViewsFedBy(source);
        if (views.Count == 0)
        {
            // Maybe defined through another silo since the last refresh; an unknown source stays refused either way.
            views = (await catalog.RefreshAsync(cancellationToken)).ViewsFedBy(source);
        }

        if (views.Count == 0)
        {
            return false;
        }

        foreach (var view in views)
        {
            if (!credential.Covers(view.Definition.EntityType))
            {
                return false;
            }
        }

        return true;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Refused {Method}: an API key that matches no configured key")]
    private static partial void LogUnknownKey(ILogger logger, string method);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Refused {Method}: {Reason}")]
    private static partial void LogInvalidToken(ILogger logger, string method, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Refused {Method} to '{KeyName}': it needs {Permission} on the entity types it touches")]
    private static partial void LogDenied(ILogger logger, string keyName, string method, ApiPermission permission);
}
