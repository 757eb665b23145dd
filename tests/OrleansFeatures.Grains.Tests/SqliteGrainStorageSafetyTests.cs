using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime;
using Orleans.Storage;
using OrleansFeatures.Grains.Storage;
using OrleansFeatures.TestInfrastructure;
using Xunit;

namespace OrleansFeatures.Grains.Tests;

/// <summary>The embedded storage refuses, at open, a file it cannot own, trust or write, naming the file.</summary>
public sealed class SqliteGrainStorageSafetyTests : IDisposable
{
    private readonly TempDirectory _directory = new("orleansfeatures-sqlite-safety");

    private string DatabasePath => Path.Combine(_directory.Path, "store.db");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task A_database_whose_lock_another_process_holds_fails_to_open_naming_the_file()
    {
        // An exclusive lock on the lock file taken outside the storage, as a second gateway process would hold it.
        await using var otherProcess = new FileStream(DatabasePath + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);

        await using var storage = Create(DatabasePath);
        var refused = await Assert.ThrowsAsync<SqliteStorageException>(() => storage.OpenAsync(CancellationToken.None));

        Assert.Contains(DatabasePath, refused.Message, StringComparison.Ordinal);
        Assert.Contains("in use by another process", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_open_storage_holds_the_lock_against_other_processes_until_every_instance_in_this_process_closes()
    {
        var first = await OpenAsync(DatabasePath);
        var second = await OpenAsync(DatabasePath);
        Assert.Throws<IOException>(TryLockFromOutside);

        await first.DisposeAsync();
        Assert.Throws<IOException>(TryLockFromOutside);

        await second.DisposeAsync();
        TryLockFromOutside();
    }

    private void TryLockFromOutside() => new FileStream(DatabasePath + ".lock", FileMode.Open, FileAccess.ReadWrite, FileShare.None).Dispose();

    [Fact]
    public async Task Closing_the_storage_releases_the_file_for_the_next_process()
    {
        var first = await OpenAsync(DatabasePath);
        await first.WriteStateAsync("entity", GrainId.Create("entity", "user/u1"), State("kept"));
        await first.DisposeAsync();

        await using var second = await OpenAsync(DatabasePath);
        var read = new GrainState<string>();
        await second.ReadStateAsync("entity", GrainId.Create("entity", "user/u1"), read);
        Assert.Equal("kept", read.State);
    }

    [Fact]
    public async Task A_database_with_corrupt_pages_fails_to_open_naming_the_file()
    {
        await using (var storage = await OpenAsync(DatabasePath))
        {
            for (var i = 0; i < 200; i++)
            {
                await storage.WriteStateAsync("entity", GrainId.Create("entity", $"user/u{i}"), State(new string('x', 500)));
            }
        }

        CorruptPagesAfterTheFirst(DatabasePath);

        await using var reopened = Create(DatabasePath);
        var refused = await Assert.ThrowsAsync<SqliteStorageException>(() => reopened.OpenAsync(CancellationToken.None));
        Assert.Contains(DatabasePath, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_under_a_path_that_cannot_be_created_fails_to_open_naming_the_path()
    {
        var notAFolder = Path.Combine(_directory.Path, "not-a-folder");
        await File.WriteAllTextAsync(notAFolder, "a file where the database folder should be");
        var path = Path.Combine(notAFolder, "store.db");

        await using var storage = Create(path);
        var refused = await Assert.ThrowsAsync<SqliteStorageException>(() => storage.OpenAsync(CancellationToken.None));

        Assert.Contains(path, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_that_refuses_writes_fails_to_open_naming_the_file()
    {
        await (await OpenAsync(DatabasePath)).DisposeAsync();
        RefuseWrites(DatabasePath, "storage_probe");

        await using var storage = Create(DatabasePath);
        var refused = await Assert.ThrowsAsync<SqliteStorageException>(() => storage.OpenAsync(CancellationToken.None));

        Assert.Contains(DatabasePath, refused.Message, StringComparison.Ordinal);
        Assert.Contains("simulated: disk full", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Storage_reports_unwritable_after_a_failed_commit_and_writable_again_once_writes_succeed()
    {
        await using var storage = await OpenAsync(DatabasePath);
        Assert.True(await storage.CheckWritableAsync(CancellationToken.None));

        RefuseWrites(DatabasePath, "grain_state", "storage_probe");
        await Assert.ThrowsAsync<SqliteStorageException>(() => storage.WriteStateAsync("entity", GrainId.Create("entity", "user/u1"), State("lost")));
        Assert.False(await storage.CheckWritableAsync(CancellationToken.None));

        AcceptWrites(DatabasePath, "grain_state", "storage_probe");
        Assert.True(await storage.CheckWritableAsync(CancellationToken.None));
    }

    private static async Task<SqliteGrainStorage> OpenAsync(string path)
    {
        var storage = Create(path);
        await storage.OpenAsync(CancellationToken.None);
        return storage;
    }

    private static SqliteGrainStorage Create(string path) =>
        new("test", new SqliteGrainStorageOptions { DatabasePath = path, GrainStorageSerializer = new StringSerializer() }, NullLogger<SqliteGrainStorage>.Instance);

    private static GrainState<string> State(string value) => new(value);

    /// <summary>Garbage over every page but the first (the header and schema), as a failing disk leaves it.</summary>
    private static void CorruptPagesAfterTheFirst(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        Assert.True(file.Length > 4096 * 3, $"the database is only {file.Length} bytes");
        var garbage = new byte[4096];
        new Random(13).NextBytes(garbage);
        for (var offset = 4096L; offset + garbage.Length <= file.Length; offset += 4096)
        {
            file.Position = offset;
            file.Write(garbage);
        }
    }

    // A trigger that aborts every insert and update stands in for a disk that refuses writes (the tests run as root,
    // so file permissions would not refuse anything).
    private static void RefuseWrites(string path, params string[] tables)
    {
        foreach (var table in tables)
        {
            Execute(path, $"""
                CREATE TRIGGER refuse_insert_{table} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'simulated: disk full'); END;
                CREATE TRIGGER refuse_update_{table} BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, 'simulated: disk full'); END;
                """);
        }
    }

    private static void AcceptWrites(string path, params string[] tables)
    {
        foreach (var table in tables)
        {
            Execute(path, $"DROP TRIGGER refuse_insert_{table}; DROP TRIGGER refuse_update_{table};");
        }
    }

    private static void Execute(string path, string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private sealed class StringSerializer : IGrainStorageSerializer
    {
        public BinaryData Serialize<T>(T? input) => BinaryData.FromString((string)(object)input!);

        public T Deserialize<T>(BinaryData input) => (T)(object)input.ToString();
    }
}
