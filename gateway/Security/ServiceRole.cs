namespace OrleansFeatures.Gateway.Security;

/// <summary>The RPC groups that can be given their own endpoint.</summary>
public enum ServiceRole
{
    Serving,
    Ingestion,
    Admin,
}
