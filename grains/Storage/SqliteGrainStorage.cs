using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using OrleansFeatures.Grains.Diagnostics;
using SQLitePCL;

namespace OrleansFeatures.Grains.Storage;

/// <summary>
/// Durable grain storage in one local SQLite file: the embedded default, so a single-node store
/// survives a kill and restart with nothing to install.
/// </summary>
/// <remarks>
/// Writes go through one writer loop that groups every pending write into a single transaction
/// (group commit): a write completes only after its transaction is committed with
/// <c>synchronous=FULL</c> in WAL mode, and one fsync serves every grain that wrote meanwhile.
/// ETags are row versions; a stale ETag fails only that write with <see cref="InconsistentStateException"/>.
/// <para>
/// A state is serialized once, into a buffer rented from this storage's pool (<see cref="IBufferGrainStorageSerializer"/>),
/// bound to its statement by its length (SQLite copies it during the bind), and the buffer goes back to the pool only
/// once its write has completed or failed: never while a queued write still refers to it.
/// </para>
/// </remarks>
public sealed partial class SqliteGrainStorage : IGrainStorage, IEntityStateBatchReader, ILifecycleParticipant<ISiloLifecycle>, IAsyncDisposable
{
    private readonly string _name;
    private readonly SqliteGrainStorageOptions _options;
    private readonly IGrainStorageSerializer _serializer;
    private readonly ArrayPool<byte> _buffers;
    private readonly ILogger<SqliteGrainStorage> _logger;
    private readonly Channel<PendingWrite> _writes = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _readLock = new(1, 1);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly LogThrottle _commitFailureLog = new(TimeSpan.FromSeconds(10));
    private string _connectionString = "";
    private SqliteConnection? _readConnection;
    private SqliteDatabaseLock? _lock;
    private volatile bool _lastCommitFailed;
    private Task? _writerLoop;

    public SqliteGrainStorage(string name, SqliteGrainStorageOptions options, ILogger<SqliteGrainStorage> logger)
    {
        _name = name;
        _options = options;
        _serializer = options.GrainStorageSerializer ?? throw new InvalidOperationException($"grain storage '{name}' has no serializer");
        _logger = logger;
        // Its own pool rather than the shared one: thousands of writes can be queued at once (a checkpoint of every
        // entity of a partition), beyond what the shared pool keeps per size, and a rented array is then allocated
        // anew. The pool keeps as many arrays per size as four commits hold; they live in gen2, not in every gen0 GC.
        _buffers = ArrayPool<byte>.Create(MaxPooledStateBytes, Math.Max(64, 4 * options.MaxWritesPerCommit));
    }

    private const string ProbeSql = "INSERT INTO storage_probe (id, writes) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET writes = writes + 1;";

    /// <summary>Per-connection settings: page cache and memory map sizes (negative cache_size is in KiB).</summary>
    private string ConnectionPragmas => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"PRAGMA cache_size=-{_options.CacheSizeMiB * 1024L}; PRAGMA mmap_size={_options.MemoryMapSizeMiB * 1024L * 1024L};\n");

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe($"{nameof(SqliteGrainStorage)}-{_name}", _options.InitStage, OpenAsync, CloseAsync);

    /// <summary>
    /// Locks and opens the database, checks its integrity and that it can be written, and starts the writer loop;
    /// public so tools and tests can use the store without a silo. Every failure names the file.
    /// </summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        var fullPath = Path.GetFullPath(_options.DatabasePath);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new SqliteStorageException($"SQLite database {fullPath} cannot be used: its folder cannot be created ({exception.Message})", exception);
        }

        _lock = SqliteDatabaseLock.Acquire(fullPath);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString();

        SqliteConnection? writer = null;
        try
        {
            writer = new SqliteConnection(_connectionString);
            await writer.OpenAsync(cancellationToken).ConfigureAwait(false);
            await CheckIntegrityAsync(writer, fullPath, cancellationToken).ConfigureAwait(false);
            // The WAL is copied back into the file every 10,000 pages (~40 MiB) instead of SQLite's 1,000: under a burst
            // of writes, a row rewritten many times is copied back once per checkpoint, not once per 4 MiB of log.
            // The probe row is written here so a read-only file fails start-up rather than the first grain write.
            await ExecuteAsync(writer, ConnectionPragmas + """
                PRAGMA journal_mode=WAL;
                PRAGMA synchronous=FULL;
                PRAGMA wal_autocheckpoint=10000;
                CREATE TABLE IF NOT EXISTS grain_state (
                    grain_type TEXT NOT NULL,
                    grain_id   TEXT NOT NULL,
                    version    INTEGER NOT NULL,
                    data       BLOB NOT NULL,
                    PRIMARY KEY (grain_type, grain_id)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS storage_probe (id INTEGER PRIMARY KEY, writes INTEGER NOT NULL);
                """, cancellationToken).ConfigureAwait(false);
            // Its own command: an error in a statement after one that returns rows (the PRAGMAs above) is not reported.
            await ExecuteAsync(writer, ProbeSql, cancellationToken).ConfigureAwait(false);

            _readConnection = new SqliteConnection(_connectionString);
            await _readConnection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(_readConnection, ConnectionPragmas, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException exception)
        {
            await ReleaseAsync(writer).ConfigureAwait(false);
            throw new SqliteStorageException($"SQLite database {fullPath} cannot be opened or written: {exception.Message}", exception);
        }
        catch
        {
            await ReleaseAsync(writer).ConfigureAwait(false);
            throw;
        }

        _writerLoop = Task.Run(() => RunWriterAsync(writer, _shutdown.Token), CancellationToken.None);
        LogOpened(_logger, _name, fullPath);
    }

    /// <summary>
    /// True while the last commit succeeded. After a failed commit (a full disk, a read-only file) it writes a probe row
    /// through the writer loop, so it turns true again once writes work, without waiting for a grain to write.
    /// </summary>
    public async Task<bool> CheckWritableAsync(CancellationToken cancellationToken)
    {
        if (!_lastCommitFailed)
        {
            return true;
        }

        var probe = new PendingWrite("", "", null) { Probe = true };
        try
        {
            Enqueue(probe);
            await probe.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>A corrupt file fails start-up naming it, instead of starting and failing every grain that reads a bad page.</summary>
    private static async Task CheckIntegrityAsync(SqliteConnection connection, string path, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        // quick_check reads every page (about a second per GiB); the first problem is enough to refuse the file.
        command.CommandText = "PRAGMA quick_check(1)";
        var result = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
        if (!string.Equals(result, "ok", StringComparison.Ordinal))
        {
            throw new SqliteStorageException($"SQLite database {path} failed its integrity check (PRAGMA quick_check): {result}; restore it from a backup or move it aside");
        }
    }

    private async Task ReleaseAsync(SqliteConnection? writer)
    {
        if (writer is not null)
        {
            await writer.DisposeAsync().ConfigureAwait(false);
        }

        if (_readConnection is not null)
        {
            await _readConnection.DisposeAsync().ConfigureAwait(false);
            _readConnection = null;
        }

        _lock?.Dispose();
        _lock = null;
    }

    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        _writes.Writer.TryComplete();
        if (_writerLoop is not null)
        {
            // Pending writes are drained, not dropped: the loop ends when the channel is empty.
            await _writerLoop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        if (_readConnection is not null)
        {
            await _readConnection.DisposeAsync().ConfigureAwait(false);
            _readConnection = null;
        }

        _lock?.Dispose();
        _lock = null;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await CloseAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _shutdown.Dispose();
            _readLock.Dispose();
        }
    }

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var connection = _readConnection ?? throw new InvalidOperationException($"grain storage '{_name}' is not open");
        byte[]? data = null;
        long version = 0;
        await _readLock.WaitAsync().ConfigureAwait(false);
        try
        {
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT version, data FROM grain_state WHERE grain_type = $type AND grain_id = $id";
            command.Parameters.AddWithValue("$type", stateName);
            command.Parameters.AddWithValue("$id", grainId.ToString());
            using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
            if (await reader.ReadAsync().ConfigureAwait(false))
            {
                version = reader.GetInt64(0);
                data = (byte[])reader.GetValue(1);
            }
        }
        finally
        {
            _readLock.Release();
        }

        if (data is null)
        {
            grainState.ETag = null;
            grainState.RecordExists = false;
            grainState.State = Activator.CreateInstance<T>();
            return;
        }

        grainState.State = _serializer.Deserialize<T>(new BinaryData(data)) ?? Activator.CreateInstance<T>();
        grainState.ETag = version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    /// <summary>SQLite's limit on bound parameters per statement is 32,766; a request reads far fewer entities.</summary>
    private const int MaxIdsPerQuery = 1_000;

    /// <summary>One <c>IN</c> query per 1,000 grains (a request's cold entities: one query), on the read connection.</summary>
    public async Task ReadManyAsync<T>(string stateName, IReadOnlyList<GrainId> grainIds, T?[] into, CancellationToken cancellationToken)
        where T : class
    {
        var connection = _readConnection ?? throw new InvalidOperationException($"grain storage '{_name}' is not open");
        var positions = new Dictionary<string, int>(grainIds.Count, StringComparer.Ordinal);
        var keys = new string[grainIds.Count];
        for (var i = 0; i < grainIds.Count; i++)
        {
            keys[i] = grainIds[i].ToString();
            positions[keys[i]] = i;
        }

        var rows = new List<(int Position, byte[] Data)>(grainIds.Count);
        await _readLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (var start = 0; start < keys.Length; start += MaxIdsPerQuery)
            {
                var count = Math.Min(MaxIdsPerQuery, keys.Length - start);
                using var command = connection.CreateCommand();
                var sql = new System.Text.StringBuilder("SELECT grain_id, data FROM grain_state WHERE grain_type = $type AND grain_id IN (");
                command.Parameters.AddWithValue("$type", stateName);
                for (var i = 0; i < count; i++)
                {
                    sql.Append(i == 0 ? "$p" : ", $p").Append(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    command.Parameters.AddWithValue("$p" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), keys[start + i]);
                }

                command.CommandText = sql.Append(')').ToString();
                using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    rows.Add((positions[reader.GetString(0)], (byte[])reader.GetValue(1)));
                }
            }
        }
        finally
        {
            _readLock.Release();
        }

        Array.Clear(into);
        foreach (var (position, data) in rows)
        {
            into[position] = _serializer.Deserialize<T>(new BinaryData(data));
        }
    }

    /// <summary>States up to this size go back to the pool after their write; larger ones are left to the GC.</summary>
    private const int MaxPooledStateBytes = 1024 * 1024;

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var write = new PendingWrite(stateName, grainId.ToString(), ParseVersion(grainState.ETag)) { Stores = true };
        if (_serializer is IBufferGrainStorageSerializer buffered)
        {
            var buffer = new PooledByteBuffer(_buffers);
            try
            {
                buffered.Serialize(grainState.State, buffer);
            }
            catch
            {
                buffer.Dispose();
                throw;
            }

            write.Buffer = buffer;
            write.Data = buffer.WrittenMemory;
        }
        else
        {
            write.Data = _serializer.Serialize(grainState.State).ToMemory();
        }

        try
        {
            Enqueue(write);
            await write.Task.ConfigureAwait(false);
        }
        finally
        {
            // The writer loop completes a write only after its transaction committed or failed, and never reads it
            // again: from here nothing refers to the buffer. (A write still queued when the store is closed never
            // completes, and its buffer is left to the GC rather than reused.)
            write.Buffer?.Dispose();
        }

        grainState.ETag = write.NewVersion.ToString(System.Globalization.CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var write = new PendingWrite(stateName, grainId.ToString(), ParseVersion(grainState.ETag));
        Enqueue(write);
        await write.Task.ConfigureAwait(false);
        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = Activator.CreateInstance<T>();
    }

    private void Enqueue(PendingWrite write)
    {
        if (!_writes.Writer.TryWrite(write))
        {
            throw new InvalidOperationException($"grain storage '{_name}' is closed; write of {write.GrainType}/{write.GrainId} refused");
        }
    }

    private static long? ParseVersion(string? etag) =>
        etag is null ? null : long.Parse(etag, System.Globalization.CultureInfo.InvariantCulture);

    private async Task RunWriterAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        var batch = new List<PendingWrite>(_options.MaxWritesPerCommit);
        await using (connection.ConfigureAwait(false))
        {
            // One statement per write, its ETag check in its WHERE clause: a write changes one row or none, and none
            // means the ETag was stale. The stored version is read only to word the error of a rejected write.
            using var insert = new WriterStatement(connection, """
                INSERT INTO grain_state (grain_type, grain_id, version, data) VALUES ($type, $id, 1, $data)
                ON CONFLICT (grain_type, grain_id) DO NOTHING
                """);
            using var update = new WriterStatement(connection, """
                UPDATE grain_state SET version = $version + 1, data = $data
                WHERE grain_type = $type AND grain_id = $id AND version = $version
                """);
            using var delete = new WriterStatement(connection, "DELETE FROM grain_state WHERE grain_type = $type AND grain_id = $id AND version = $version");
            using var select = new WriterStatement(connection, "SELECT version FROM grain_state WHERE grain_type = $type AND grain_id = $id");
            using var probe = connection.CreateCommand();
            probe.CommandText = ProbeSql;

            while (await _writes.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                batch.Clear();
                while (batch.Count < _options.MaxWritesPerCommit && _writes.Reader.TryRead(out var next))
                {
                    batch.Add(next);
                }

                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var transaction = connection.BeginTransaction();
                    probe.Transaction = transaction;
                    foreach (var write in batch)
                    {
                        if (write.Probe)
                        {
                            await probe.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                            continue;
                        }

                        Apply(write, insert, update, delete, select);
                    }

                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception exception)
                {
                    _lastCommitFailed = true;
                    FeatureStoreMetrics.StorageFailures.Add(1);
                    if (_commitFailureLog.TryEnter(out var suppressed))
                    {
                        LogCommitFailed(_logger, exception, _name, batch.Count, suppressed);
                    }

                    // Orleans logs every failed grain write with its exception: a short one per write (without the
                    // SQLite stack trace, logged above at most once per 10 s) keeps a full disk from flooding the log.
                    foreach (var write in batch)
                    {
                        write.TrySetException(new SqliteStorageException(
                            $"grain storage '{_name}' could not commit this write ({exception.GetType().Name}: {exception.Message}); the cause is in the storage's log"));
                    }

                    continue;
                }

                _lastCommitFailed = false;
                FeatureStoreMetrics.StorageCommitDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                FeatureStoreMetrics.StorageWritesPerCommit.Record(batch.Count);
                foreach (var write in batch)
                {
                    if (write.Rejected is { } rejected)
                    {
                        write.TrySetException(rejected);
                    }
                    else
                    {
                        write.TrySetResult();
                    }
                }
            }
        }
    }

    /// <summary>One write inside the open transaction; a stale ETag marks only this write rejected.</summary>
    private void Apply(PendingWrite write, WriterStatement insert, WriterStatement update, WriterStatement delete, WriterStatement select)
    {
        int changed;
        if (!write.Stores)
        {
            if (write.ExpectedVersion is not { } expected)
            {
                // Clearing a state this grain never saw stored: fine if there is none, stale if there is one.
                changed = select.QueryVersion(write) is null ? 1 : 0;
            }
            else
            {
                changed = delete.Execute(write, expected, default);
            }
        }
        else if (write.ExpectedVersion is not { } expected)
        {
            write.NewVersion = 1;
            changed = insert.Execute(write, null, write.Data.Span);
        }
        else
        {
            write.NewVersion = expected + 1;
            changed = update.Execute(write, expected, write.Data.Span);
        }

        if (changed == 0)
        {
            var stored = select.QueryVersion(write);
            write.Rejected = new InconsistentStateException(
                $"grain storage '{_name}': stale ETag for {write.GrainType}/{write.GrainId}",
                stored is { } version ? version.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none",
                write.ExpectedVersion?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none");
        }
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Grain storage '{Name}' opened SQLite database {Path}")]
    private static partial void LogOpened(ILogger logger, string name, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "Grain storage '{Name}' failed to commit {Count} writes; every write in the batch failed ({Suppressed} failed commits not logged in the previous 10 s)")]
    private static partial void LogCommitFailed(ILogger logger, Exception exception, string name, int count, long suppressed);

    /// <summary>A queued write: its own completion, set by the writer loop once its transaction committed or failed.</summary>
    private sealed class PendingWrite(string grainType, string grainId, long? expectedVersion)
        : TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public string GrainType { get; } = grainType;

        public string GrainId { get; } = grainId;

        public long? ExpectedVersion { get; } = expectedVersion;

        /// <summary>True for a write of <see cref="Data"/>, false for a clear.</summary>
        public bool Stores { get; init; }

        /// <summary>The serialized state: <see cref="Buffer"/>'s written bytes, or the serializer's own array.</summary>
        public ReadOnlyMemory<byte> Data { get; set; }

        /// <summary>The pooled buffer <see cref="Data"/> lies in, given back by the writer once this write completed.</summary>
        public PooledByteBuffer? Buffer { get; set; }

        public long NewVersion { get; set; }

        public Exception? Rejected { get; set; }

        /// <summary>A write of the probe row only, from <see cref="CheckWritableAsync"/>.</summary>
        public bool Probe { get; init; }
    }

    /// <summary>
    /// A statement prepared once on the writer's connection and run through SQLite's own API: the state's bytes are
    /// bound from their buffer by their length (SQLite copies them while binding), with none of ADO.NET's objects per
    /// execution (parameter binders, a data reader, a boxed version, a copy of a blob longer than its size). The writer
    /// is the file's only writer (<see cref="SqliteDatabaseLock"/>) and WAL readers do not block it, so SQLITE_BUSY
    /// is not expected; any error fails the batch like an ADO.NET error did.
    /// </summary>
    private sealed class WriterStatement : IDisposable
    {
        private readonly sqlite3 _db;
        private readonly sqlite3_stmt _statement;
        private readonly int _type;
        private readonly int _id;
        private readonly int _version;
        private readonly int _data;

        public WriterStatement(SqliteConnection connection, string sql)
        {
            _db = connection.Handle ?? throw new InvalidOperationException("the SQLite connection is not open");
            Check(raw.sqlite3_prepare_v2(_db, sql, out _statement));
            _type = raw.sqlite3_bind_parameter_index(_statement, "$type");
            _id = raw.sqlite3_bind_parameter_index(_statement, "$id");
            _version = raw.sqlite3_bind_parameter_index(_statement, "$version");
            _data = raw.sqlite3_bind_parameter_index(_statement, "$data");
        }

        /// <summary>Runs the statement for <paramref name="write"/>; the rows it changed.</summary>
        public int Execute(PendingWrite write, long? version, ReadOnlySpan<byte> data)
        {
            Bind(write, version, data);
            try
            {
                var result = raw.sqlite3_step(_statement);
                if (result is not raw.SQLITE_DONE and not raw.SQLITE_ROW)
                {
                    Check(result);
                }

                return raw.sqlite3_changes(_db);
            }
            finally
            {
                Reset();
            }
        }

        /// <summary>The stored row's version (a SELECT of <c>version</c>), or null when none is stored.</summary>
        public long? QueryVersion(PendingWrite write)
        {
            Bind(write, null, default);
            try
            {
                var result = raw.sqlite3_step(_statement);
                if (result == raw.SQLITE_ROW)
                {
                    return raw.sqlite3_column_int64(_statement, 0);
                }

                if (result != raw.SQLITE_DONE)
                {
                    Check(result);
                }

                return null;
            }
            finally
            {
                Reset();
            }
        }

        public void Dispose() => _statement.Dispose();

        private void Bind(PendingWrite write, long? version, ReadOnlySpan<byte> data)
        {
            Check(BindText(_type, write.GrainType));
            Check(BindText(_id, write.GrainId));
            if (_version > 0)
            {
                Check(version is { } v ? raw.sqlite3_bind_int64(_statement, _version, v) : raw.sqlite3_bind_null(_statement, _version));
            }

            if (_data > 0)
            {
                // An empty span would be bound as a null pointer, i.e. NULL: an empty state is an empty blob.
                Check(data.IsEmpty ? raw.sqlite3_bind_zeroblob(_statement, _data, 0) : raw.sqlite3_bind_blob(_statement, _data, data));
            }
        }

        private int BindText(int index, string text) =>
            text.Length == 0 ? raw.sqlite3_bind_text(_statement, index, "") : raw.sqlite3_bind_text16(_statement, index, text.AsSpan());

        /// <summary>Resets the statement so it holds no cursor into the transaction; a failed step reports its error here again, already thrown.</summary>
        private void Reset() => raw.sqlite3_reset(_statement);

        private void Check(int result)
        {
            if (result is not raw.SQLITE_OK)
            {
                SqliteException.ThrowExceptionForRC(result, _db);
            }
        }
    }
}
