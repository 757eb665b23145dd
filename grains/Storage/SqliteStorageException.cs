namespace OrleansFeatures.Grains.Storage;

/// <summary>The SQLite database cannot be opened, locked, checked or written; the message names the file.</summary>
public sealed class SqliteStorageException(string message, Exception? inner = null) : Exception(message, inner);
