using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime;
using Orleans.Serialization;
using Orleans.Storage;
using OrleansFeatures.Grains.State;
using OrleansFeatures.Grains.Storage;
using OrleansFeatures.TestInfrastructure;
using Xunit;

namespace OrleansFeatures.Grains.Tests;

/// <summary>
/// SQLite storage with the binary serializer writing into pooled buffers: the stored bytes are the array serializer's,
/// and a write's buffer is not reused before the write has completed.
/// </summary>
public sealed class SqlitePooledWriteTests : IAsyncLifetime
{
    private readonly TempDirectory _directory = new("orleansfeatures-sqlite-pooled");
    private readonly Serializer _serializer = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();
    private SqliteGrainStorage _storage = null!;

    private string DatabasePath => Path.Combine(_directory.Path, "store.db");

    public async Task InitializeAsync() => _storage = await OpenAsync();

    public async Task DisposeAsync()
    {
        await _storage.DisposeAsync();
        _directory.Dispose();
    }

    [Fact]
    public async Task A_stored_entity_state_is_byte_for_byte_what_the_array_serializer_writes()
    {
        // Views of several sizes, one beyond the storage's largest pooled buffer (1 MiB).
        var state = new EntityState { WrittenByEpoch = 42, WrittenThroughSequence = 9 };
        state.Views["small"] = Bytes(seed: 1, length: 37);
        state.Views["medium"] = Bytes(seed: 2, length: 9_000);
        state.Views["large"] = Bytes(seed: 3, length: 1_500_000);
        state.SegmentsToDelete.Add("entity.seen.gone.0");
        var id = GrainId.Create("entity", "user/bytes");

        await _storage.WriteStateAsync(EntityStateStore.MainStateName, id, new GrainState<EntityState>(state));

        var expected = _serializer.SerializeToArray(state);
        Assert.Equal(expected, await StoredBytesAsync(id));

        await _storage.DisposeAsync();
        _storage = await OpenAsync();
        var read = new GrainState<EntityState>();
        await _storage.ReadStateAsync(EntityStateStore.MainStateName, id, read);
        Assert.Equal(["small", "medium", "large"], read.State!.Views.Keys);
        foreach (var (name, bytes) in state.Views)
        {
            Assert.Equal(bytes, read.State.Views[name]);
        }

        Assert.Equal(9, read.State.WrittenThroughSequence);
    }

    [Fact]
    public async Task Concurrent_writes_of_different_states_each_store_their_own_bytes()
    {
        // 64 writers, each writing 40 states one after the other: as soon as one write completes its buffer goes back
        // to the pool and is rented by the next serialization, while other writes still wait in the queue. A buffer
        // given back before its write ran would be overwritten by another state and stored as that one.
        const int Writers = 64;
        const int WritesEach = 40;
        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            for (var j = 0; j < WritesEach; j++)
            {
                await _storage.WriteStateAsync("blob", Id(w, j), new GrainState<byte[]>(Content(w, j)));
            }
        }));
        await Task.WhenAll(writers);

        for (var w = 0; w < Writers; w++)
        {
            for (var j = 0; j < WritesEach; j++)
            {
                var read = new GrainState<byte[]>();
                await _storage.ReadStateAsync("blob", Id(w, j), read);
                Assert.True(read.RecordExists, $"state {w}/{j} missing");
                Assert.Equal(Content(w, j), read.State);
            }
        }
    }

    [Fact]
    public async Task Rewrites_of_one_state_racing_other_writes_leave_the_last_one_stored()
    {
        // Each writer rewrites its own state with its ETag; every rewrite has a different size, so buffers of
        // several pool sizes are rented, given back and reused across writers.
        const int Writers = 32;
        const int Rewrites = 25;
        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            string? etag = null;
            for (var j = 0; j < Rewrites; j++)
            {
                var state = new GrainState<byte[]>(Content(w, j)) { ETag = etag };
                await _storage.WriteStateAsync("blob", Id(w, 0), state);
                etag = state.ETag;
            }

            return etag;
        })).ToList();
        var etags = await Task.WhenAll(writers);

        for (var w = 0; w < Writers; w++)
        {
            var read = new GrainState<byte[]>();
            await _storage.ReadStateAsync("blob", Id(w, 0), read);
            Assert.Equal(Content(w, Rewrites - 1), read.State);
            Assert.Equal(etags[w], read.ETag);
        }
    }

    private static GrainId Id(int writer, int write) => GrainId.Create("entity", $"user/w{writer}-{write}");

    /// <summary>Distinct bytes per writer and write, 1 byte to ~70 KB long.</summary>
    private static byte[] Content(int writer, int write) => Bytes(writer * 1_000 + write, 1 + (writer * 7_919 + write * 104_729) % 70_000);

    private static byte[] Bytes(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>The row's data column as SQLite holds it.</summary>
    private async Task<byte[]> StoredBytesAsync(GrainId id)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT data FROM grain_state WHERE grain_type = $type AND grain_id = $id";
        command.Parameters.AddWithValue("$type", EntityStateStore.MainStateName);
        command.Parameters.AddWithValue("$id", id.ToString());
        return (byte[])(await command.ExecuteScalarAsync())!;
    }

    private async Task<SqliteGrainStorage> OpenAsync()
    {
        var storage = new SqliteGrainStorage("test", new SqliteGrainStorageOptions
        {
            DatabasePath = DatabasePath,
            GrainStorageSerializer = new BinaryGrainStorageSerializer(_serializer),
        }, NullLogger<SqliteGrainStorage>.Instance);
        await storage.OpenAsync(CancellationToken.None);
        return storage;
    }
}
