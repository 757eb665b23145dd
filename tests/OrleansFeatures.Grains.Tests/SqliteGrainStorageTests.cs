using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime;
using Orleans.Storage;
using OrleansFeatures.Grains.Storage;
using OrleansFeatures.TestInfrastructure;
using Xunit;

namespace OrleansFeatures.Grains.Tests;

/// <summary>The embedded storage on a real SQLite file: ETags as row versions, one rejected write per stale ETag.</summary>
public sealed class SqliteGrainStorageTests : IAsyncLifetime
{
    private readonly TempDirectory _directory = new("orleansfeatures-sqlite-storage");
    private SqliteGrainStorage _storage = null!;

    public async Task InitializeAsync() => _storage = await OpenAsync();

    public async Task DisposeAsync()
    {
        await _storage.DisposeAsync();
        _directory.Dispose();
    }

    [Fact]
    public async Task A_written_state_reads_back_with_its_etag_after_a_reopen()
    {
        var id = GrainId.Create("entity", "user/u1");
        var (first, second) = await WriteFirstThenSecondAsync(id);
        Assert.NotEqual(first.ETag, second.ETag);

        await _storage.DisposeAsync();
        _storage = await OpenAsync();
        var read = new GrainState<Text>();
        await _storage.ReadStateAsync("entity", id, read);

        Assert.True(read.RecordExists);
        Assert.Equal("second", read.State!.Value);
        Assert.Equal(second.ETag, read.ETag);
    }

    [Fact]
    public async Task A_write_with_a_stale_etag_is_rejected_and_leaves_the_stored_state()
    {
        var id = GrainId.Create("entity", "user/u2");
        var (first, second) = await WriteFirstThenSecondAsync(id);

        var stale = await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.WriteStateAsync("entity", id, State("lost update", first.ETag)));

        Assert.Equal(second.ETag, stale.StoredEtag);
        Assert.Equal(first.ETag, stale.CurrentEtag);
        Assert.Equal("second", await ReadAsync(id));
    }

    [Fact]
    public async Task A_first_write_is_rejected_when_a_state_is_already_stored()
    {
        var id = GrainId.Create("entity", "user/u3");
        await _storage.WriteStateAsync("entity", id, State("stored"));

        await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.WriteStateAsync("entity", id, State("blind write")));

        Assert.Equal("stored", await ReadAsync(id));
    }

    [Fact]
    public async Task A_write_with_an_etag_is_rejected_when_nothing_is_stored()
    {
        var id = GrainId.Create("entity", "user/u4");

        await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.WriteStateAsync("entity", id, State("ghost", "7")));

        Assert.Null(await ReadAsync(id));
    }

    [Fact]
    public async Task A_stale_write_among_concurrent_ones_fails_alone_and_its_neighbours_land()
    {
        var stale = GrainId.Create("entity", "user/stale");
        var (first, _) = await WriteFirstThenSecondAsync(stale);

        // Enqueued together, so the writer groups them into one or a few transactions.
        var writes = Enumerable.Range(0, 50)
            .Select(i => _storage.WriteStateAsync("entity", GrainId.Create("entity", $"user/n{i}"), State($"n{i}")))
            .Append(_storage.WriteStateAsync("entity", stale, State("lost update", first.ETag)))
            .ToList();
        var failures = 0;
        foreach (var write in writes)
        {
            try
            {
                await write;
            }
            catch (InconsistentStateException)
            {
                failures++;
            }
        }

        Assert.Equal(1, failures);
        Assert.Equal("second", await ReadAsync(stale));
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal($"n{i}", await ReadAsync(GrainId.Create("entity", $"user/n{i}")));
        }
    }

    [Fact]
    public async Task Clearing_deletes_with_a_current_etag_and_is_rejected_with_a_stale_one()
    {
        var id = GrainId.Create("entity", "user/u5");
        var (first, second) = await WriteFirstThenSecondAsync(id);

        await Assert.ThrowsAsync<InconsistentStateException>(() => _storage.ClearStateAsync("entity", id, State("x", first.ETag)));
        Assert.Equal("second", await ReadAsync(id));

        await _storage.ClearStateAsync("entity", id, State("x", second.ETag));
        Assert.Null(await ReadAsync(id));

        // Stored again from nothing, the row starts over without an ETag.
        await _storage.WriteStateAsync("entity", id, State("again"));
        Assert.Equal("again", await ReadAsync(id));
    }

    private async Task<SqliteGrainStorage> OpenAsync()
    {
        var storage = new SqliteGrainStorage("test", new SqliteGrainStorageOptions
        {
            DatabasePath = Path.Combine(_directory.Path, "store.db"),
            GrainStorageSerializer = new TextSerializer(),
        }, NullLogger<SqliteGrainStorage>.Instance);
        await storage.OpenAsync(CancellationToken.None);
        return storage;
    }

    /// <summary>Stores "first", then "second" with first's ETag; returns both states with the ETags storage gave them.</summary>
    private async Task<(GrainState<Text> First, GrainState<Text> Second)> WriteFirstThenSecondAsync(GrainId id)
    {
        var first = State("first");
        await _storage.WriteStateAsync("entity", id, first);
        var second = State("second", first.ETag);
        await _storage.WriteStateAsync("entity", id, second);
        return (first, second);
    }

    /// <summary>The stored text, or null when no record exists.</summary>
    private async Task<string?> ReadAsync(GrainId id)
    {
        var read = new GrainState<Text>();
        await _storage.ReadStateAsync("entity", id, read);
        return read.RecordExists ? read.State!.Value : null;
    }

    private static GrainState<Text> State(string value, string? etag = null) => new(new Text { Value = value }) { ETag = etag };

    public sealed class Text
    {
        public string Value { get; set; } = "";
    }

    /// <summary>UTF-8 text: these tests pin storage semantics, not the grain state serializer.</summary>
    private sealed class TextSerializer : IGrainStorageSerializer
    {
        public BinaryData Serialize<T>(T? input) => BinaryData.FromString(((Text)(object)input!).Value);

        public T Deserialize<T>(BinaryData input) => (T)(object)new Text { Value = input.ToString() };
    }
}
