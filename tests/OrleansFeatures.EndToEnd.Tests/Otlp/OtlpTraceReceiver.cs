using System.Net;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.EndToEnd.Tests.Otlp;

/// <summary>
/// A test-owned OTLP/HTTP endpoint on a free loopback port: decodes every <c>POST /v1/traces</c> (protobuf) into the
/// spans it carries and answers 200 to every request (metrics and logs exports are accepted and ignored).
/// </summary>
internal sealed class OtlpTraceReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly List<ReceivedSpan> _spans = [];
    private readonly Task _loop;
    private int _traceRequests;
    private int _metricRequests;

    public OtlpTraceReceiver()
    {
        Port = FreePort.Next();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    /// <summary>The value for <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (the exporter appends <c>/v1/traces</c>).</summary>
    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Export requests received on <c>/v1/traces</c>.</summary>
    public int TraceRequests => Volatile.Read(ref _traceRequests);

    /// <summary>Export requests received on <c>/v1/metrics</c> (proof that the process exports to this receiver at all).</summary>
    public int MetricRequests => Volatile.Read(ref _metricRequests);

    public IReadOnlyList<ReceivedSpan> Spans
    {
        get
        {
            lock (_spans)
            {
                return [.. _spans];
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            await _loop;
        }
        catch (Exception exception) when (exception is HttpListenerException or ObjectDisposedException)
        {
        }
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception exception) when (exception is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using (var body = new MemoryStream())
            {
                await context.Request.InputStream.CopyToAsync(body);
                if (context.Request.HttpMethod == "POST" && context.Request.Url?.AbsolutePath == "/v1/traces")
                {
                    Add(ExportTraceServiceRequest.Parser.ParseFrom(body.ToArray()));
                }
                else if (context.Request.Url?.AbsolutePath == "/v1/metrics")
                {
                    Interlocked.Increment(ref _metricRequests);
                }
            }

            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }

    private void Add(ExportTraceServiceRequest request)
    {
        Interlocked.Increment(ref _traceRequests);
        lock (_spans)
        {
            foreach (var resource in request.ResourceSpans)
            {
                foreach (var scope in resource.ScopeSpans)
                {
                    foreach (var span in scope.Spans)
                    {
                        _spans.Add(new ReceivedSpan(
                            Convert.ToHexStringLower(span.TraceId.Span),
                            Convert.ToHexStringLower(span.SpanId.Span),
                            span.ParentSpanId.IsEmpty ? null : Convert.ToHexStringLower(span.ParentSpanId.Span),
                            span.Name,
                            span.Kind,
                            scope.Scope?.Name ?? ""));
                    }
                }
            }
        }
    }
}

/// <summary>One exported span: ids in lower-case hex, its OTLP kind (2 server, 3 client) and instrumentation scope.</summary>
internal sealed record ReceivedSpan(string TraceId, string SpanId, string? ParentSpanId, string Name, int Kind, string Scope)
{
    public const int ServerKind = 2;

    public override string ToString() => $"{Scope}: {Name} (kind {Kind}, {SpanId} <- {ParentSpanId ?? "root"})";
}
