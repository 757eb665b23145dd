using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Grains.Storage;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Grains.Tests;

[CollectionDefinition(nameof(AzureStorageRequestMetricsTests), DisableParallelization = true)]
public sealed class AzureStorageMetricsCollection;

/// <summary>
/// The Azure Table and Blob clients the silo builds count, time and classify every request, against Azurite: exact
/// counts per role, service and operation for a known sequence of requests. Not run in parallel: the instruments are
/// process-wide.
/// </summary>
[Trait("Speed", "Slow")] // the fast loop leaves it out (tests/README.md): it starts real servers or processes
[Collection(nameof(AzureStorageRequestMetricsTests))]
public sealed class AzureStorageRequestMetricsTests
{
    [Fact]
    public async Task Blob_state_requests_are_counted_by_operation_and_a_missing_blob_is_not_a_failure()
    {
        await using var azurite = await AzuriteServer.StartWithBlobAsync();
        var settings = new AzureStorageSettings { ConnectionString = azurite.ConnectionString };
        var container = settings.CreateBlobServiceClient(AzureStorageRequestMetrics.StateRole).GetBlobContainerClient("metrics-test");
        using var recorded = new RecordedStorageMetrics();

        await container.CreateAsync();                                                    // write
        await container.GetBlobClient("a").UploadAsync(BinaryData.FromString("state"));   // write
        var read = await container.GetBlobClient("a").DownloadContentAsync();             // read
        var missing = await Assert.ThrowsAsync<RequestFailedException>(() => container.GetBlobClient("never-written").GetPropertiesAsync()); // read, 404

        Assert.Equal("state", read.Value.Content.ToString());
        Assert.Equal(404, missing.Status);
        Assert.Equal(2, recorded.Requests("state", "blob", "write"));
        Assert.Equal(2, recorded.Requests("state", "blob", "read"));
        Assert.Equal(4, recorded.Durations("state", "blob"));
        Assert.Equal(0, recorded.TotalFailures);
    }

    [Fact]
    public async Task Table_requests_that_get_no_answer_are_counted_as_failures_of_their_role()
    {
        await using var azurite = await AzuriteServer.StartWithBlobAsync();
        var settings = new AzureStorageSettings { ConnectionString = azurite.ConnectionString };
        var table = settings.CreateTableServiceClient(AzureStorageRequestMetrics.MembershipRole).GetTableClient("MetricsTest");
        using var recorded = new RecordedStorageMetrics();

        await table.CreateAsync();                                                        // write
        await table.AddEntityAsync(new TableEntity("p", "r") { ["v"] = 1 });              // write
        await azurite.TakeOfflineAsync();
        using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(1)))
        {
            // Refused connections are retried by the SDK; the deadline ends the operation unanswered.
            await Assert.ThrowsAnyAsync<Exception>(() => table.GetEntityAsync<TableEntity>("p", "r", cancellationToken: deadline.Token));
        }

        Assert.Equal(2, recorded.Requests("membership", "table", "write"));
        Assert.Equal(1, recorded.Requests("membership", "table", "read"));
        Assert.Equal(1, recorded.Failures("membership", "table", "read"));
        Assert.Equal(1, recorded.TotalFailures);
        Assert.Equal(0, recorded.Requests("state", "table", "write") + recorded.Requests("state", "table", "read"));
    }

    [Theory]
    [InlineData(500, true)]
    [InlineData(503, true)]
    [InlineData(408, true)]
    [InlineData(429, true)]
    [InlineData(404, false)]
    [InlineData(409, false)]
    [InlineData(412, false)]
    [InlineData(200, false)]
    public void Server_errors_timeouts_and_throttling_are_failures_and_other_answers_are_not(int status, bool failure) =>
        Assert.Equal(failure, AzureStorageRequestMetrics.IsFailure(status));

    /// <summary>The Azure Storage instruments' measurements while it lives, keyed by their tags.</summary>
    private sealed class RecordedStorageMetrics : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, long> _counts = new();

        public RecordedStorageMetrics()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                // By name: this runs inside FeatureStoreMetrics' static initializer when it creates them, fields still null.
                if (instrument.Meter.Name == FeatureStoreMetrics.MeterName && instrument.Name is InstrumentNames.AzureStorageRequests or InstrumentNames.AzureStorageFailures or InstrumentNames.AzureStorageDuration)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, value, tags));
            _listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) => Add(instrument, 1, tags));
            _listener.Start();
        }

        public long TotalFailures => _counts.Where(c => c.Key.StartsWith(InstrumentNames.AzureStorageFailures + "|", StringComparison.Ordinal)).Sum(c => c.Value);

        public long Requests(string role, string service, string operation) => Get(InstrumentNames.AzureStorageRequests, role, service, operation);

        public long Failures(string role, string service, string operation) => Get(InstrumentNames.AzureStorageFailures, role, service, operation);

        public long Durations(string role, string service) =>
            Get(InstrumentNames.AzureStorageDuration, role, service, "read") + Get(InstrumentNames.AzureStorageDuration, role, service, "write");

        public void Dispose() => _listener.Dispose();

        private long Get(string instrument, string role, string service, string operation) =>
            _counts.GetValueOrDefault($"{instrument}|{role}|{service}|{operation}");

        private void Add(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? role = null, service = null, operation = null;
            foreach (var tag in tags)
            {
                switch (tag.Key)
                {
                    case "role": role = (string?)tag.Value; break;
                    case "service": service = (string?)tag.Value; break;
                    case "operation": operation = (string?)tag.Value; break;
                }
            }

            _counts.AddOrUpdate($"{instrument.Name}|{role}|{service}|{operation}", value, (_, old) => old + value);
        }
    }
}
