namespace OrleansFeatures.Grains.Storage;

/// <summary>
/// An exclusive lock file beside the database (<c>PATH.lock</c>), held while the storage is open. Two processes on
/// one file would each cache their own view of grain state and registry versions; the second fails at start-up
/// instead. Storage instances in one process (the silos of an in-process test cluster) share the lock, as they share
/// the file through ETags. SQLite's own <c>locking_mode=EXCLUSIVE</c> would also lock out the storage's separate read
/// connection, so it is not used.
/// </summary>
internal sealed class SqliteDatabaseLock : IDisposable
{
    private static readonly Dictionary<string, Holder> Held = new(StringComparer.Ordinal);

    private readonly string _lockPath;
    private bool _released;

    private SqliteDatabaseLock(string lockPath) => _lockPath = lockPath;

    /// <summary>Takes the lock for <paramref name="databasePath"/> (a full path), or throws naming the file.</summary>
    public static SqliteDatabaseLock Acquire(string databasePath)
    {
        var lockPath = databasePath + ".lock";
        lock (Held)
        {
            if (Held.TryGetValue(lockPath, out var holder))
            {
                holder.Users++;
                return new SqliteDatabaseLock(lockPath);
            }

            Held.Add(lockPath, new Holder(Open(databasePath, lockPath)));
            return new SqliteDatabaseLock(lockPath);
        }
    }

    public void Dispose()
    {
        lock (Held)
        {
            if (_released)
            {
                return;
            }

            _released = true;
            var holder = Held[_lockPath];
            if (--holder.Users == 0)
            {
                Held.Remove(_lockPath);
                holder.File.Dispose();
            }
        }
    }

    private static FileStream Open(string databasePath, string lockPath)
    {
        FileStream file;
        try
        {
            // FileShare.None takes an exclusive advisory lock (flock on Linux), released by the OS when the process dies.
            file = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 1);
        }
        catch (UnauthorizedAccessException exception)
        {
            throw new SqliteStorageException($"SQLite database {databasePath} cannot be used: its lock file {lockPath} cannot be created or opened for writing ({exception.Message})", exception);
        }
        catch (IOException exception) when (File.Exists(lockPath))
        {
            throw new SqliteStorageException($"SQLite database {databasePath} is in use by another process (lock file {lockPath} is held); only one silo may open a database file", exception);
        }
        catch (IOException exception)
        {
            throw new SqliteStorageException($"SQLite database {databasePath} cannot be used: its lock file {lockPath} cannot be created ({exception.Message})", exception);
        }

        // The holder's process id, for an operator looking at the file.
        file.SetLength(0);
        file.Write(System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n"));
        file.Flush();
        return file;
    }

    private sealed class Holder(FileStream file)
    {
        public FileStream File { get; } = file;

        public int Users { get; set; } = 1;
    }
}
