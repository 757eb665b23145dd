using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// The event ids a view state retains for de-duplication, each as a 64-bit hash of the id with its event time
/// (16 bytes, <see cref="SeenId"/>): the <b>open</b> ids in acceptance order (what the next write persists, with a
/// small hash index), and <b>sealed</b> runs (ids the caller has stored in a segment), each sorted by hash and
/// searched by bisection, 16 bytes per id and nothing else. An id is consulted only while its event time is at or
/// after the lateness bound (checked on every hit), so an id that has fallen behind the bound is forgotten at once for
/// the semantics and dropped from memory lazily: a sealed run when its newest id falls behind, the open ids when the
/// list doubles or is written. A mutable struct held in one field of <see cref="FeatureViewState"/> (one object fewer
/// per view state); never copied except to move it to a rebound state.
/// </summary>
internal struct SeenIds
{
    /// <summary>Below this many open ids a lookup scans them (newest first) instead of keeping an index.</summary>
    private const int IndexFrom = 8;

    private SeenId[] _open;
    private int _openCount;

    // Open addressing over _open (position + 1; 0 is empty), linear probing, capacity a power of two ≥ 2 × _openCount;
    // null below IndexFrom ids. A hash added again (its earlier id had expired) points at its newest position.
    private int[]? _index;

    private SealedRun[]? _runs;
    private int _runCount;

    // Open ids at which the list is next compacted (expired ids dropped); doubles with the live ids.
    private int _compactAt;

    public SeenIds()
    {
        _open = [];
        _compactAt = 64;
    }

    /// <summary>The 64-bit hash an event id is retained as: XXH3 of its UTF-16 code units, stable across processes and versions.</summary>
    public static ulong Hash(string eventId) => XxHash3.HashToUInt64(MemoryMarshal.AsBytes(eventId.AsSpan()));

    public readonly int OpenCount => _openCount;

    public readonly ReadOnlySpan<SeenId> Open => _open.AsSpan(0, _openCount);

    /// <summary>Ids held in memory, live or not yet dropped: an upper bound of <see cref="CountLive"/>.</summary>
    public readonly int Held
    {
        get
        {
            var held = _openCount;
            for (var r = 0; r < _runCount; r++)
            {
                held += _runs![r].Ids.Length;
            }

            return held;
        }
    }

    public readonly int RunCount => _runCount;

    /// <summary>Whether an id with this hash and an event time at or after <paramref name="bound"/> is retained.</summary>
    public readonly bool Contains(ulong hash, long bound)
    {
        if (FindOpen(hash) is var position and >= 0 && _open[position].TimestampMs >= bound)
        {
            return true;
        }

        for (var r = 0; r < _runCount; r++)
        {
            var run = _runs![r];
            if (run.Newest >= bound && Find(run.Ids, hash) is var at and >= 0 && run.Ids[at].TimestampMs >= bound)
            {
                return true;
            }
        }

        return false;
    }

    public void AddOpen(SeenId id)
    {
        if (_openCount == _open.Length)
        {
            Array.Resize(ref _open, _openCount == 0 ? 4 : _openCount * 2);
        }

        _open[_openCount++] = id;
        if (_index is not null || _openCount >= IndexFrom)
        {
            if (_index is null || _index.Length < 2 * _openCount)
            {
                RebuildIndex();
            }
            else
            {
                IndexInsert(_index, _openCount - 1);
            }
        }
    }

    /// <summary>
    /// Drops open ids behind <paramref name="bound"/> once the list has doubled since it was last compacted (amortised
    /// O(1) per id); returns whether any were dropped. Not while a segment of the open ids is being stored.
    /// </summary>
    public bool CompactOpenIfDue(long bound) => _openCount >= _compactAt && DropExpiredOpen(bound);

    /// <summary>Drops open ids behind <paramref name="bound"/>; returns whether any were dropped.</summary>
    public bool DropExpiredOpen(long bound)
    {
        var kept = 0;
        for (var i = 0; i < _openCount; i++)
        {
            if (_open[i].TimestampMs >= bound)
            {
                _open[kept++] = _open[i];
            }
        }

        var dropped = kept < _openCount;
        Array.Clear(_open, kept, _openCount - kept);
        _openCount = kept;
        _compactAt = Math.Max(64, 2 * kept);
        if (dropped)
        {
            ShrinkOpen();
            RebuildIndex();
        }

        return dropped;
    }

    /// <summary>Moves the first <paramref name="count"/> open ids into a sealed run (those at or after <paramref name="bound"/>).</summary>
    public void SealFirst(int count, long bound)
    {
        AddRun(_open.AsSpan(0, count), bound, dedupe: false);
        Array.Copy(_open, count, _open, 0, _openCount - count);
        Array.Clear(_open, _openCount - count, count);
        _openCount -= count;
        ShrinkOpen();
        RebuildIndex();
    }

    /// <summary>Adds ids as a sealed run: those at or after <paramref name="bound"/> (and, with <paramref name="dedupe"/>, not already retained).</summary>
    public void AddRun(ReadOnlySpan<SeenId> ids, long bound, bool dedupe)
    {
        var run = new List<SeenId>(ids.Length);
        var newest = long.MinValue;
        foreach (var id in ids)
        {
            if (id.TimestampMs >= bound && (!dedupe || !Contains(id.IdHash, bound)))
            {
                run.Add(id);
                newest = Math.Max(newest, id.TimestampMs);
            }
        }

        if (run.Count == 0)
        {
            return;
        }

        var sorted = run.ToArray();
        Array.Sort(sorted, static (a, b) => a.IdHash.CompareTo(b.IdHash));
        _runs ??= new SealedRun[4];
        if (_runCount == _runs.Length)
        {
            Array.Resize(ref _runs, _runCount * 2);
        }

        _runs[_runCount++] = new SealedRun(sorted, newest);
    }

    /// <summary>Drops sealed runs whose every id is behind <paramref name="bound"/>.</summary>
    public void DropExpiredRuns(long bound)
    {
        var kept = 0;
        for (var r = 0; r < _runCount; r++)
        {
            var run = _runs![r];
            if (run.Newest >= bound)
            {
                _runs[kept++] = run;
            }
        }

        if (kept < _runCount)
        {
            Array.Clear(_runs!, kept, _runCount - kept);
            _runCount = kept;
            if (kept == 0)
            {
                _runs = null;
            }
        }
    }

    /// <summary>Ids retained at or after <paramref name="bound"/> (a scan: called only when <see cref="Held"/> exceeds the cap).</summary>
    public readonly int CountLive(long bound, out long oldest)
    {
        var live = 0;
        oldest = long.MaxValue;
        foreach (var id in Open)
        {
            Count(id.TimestampMs, bound, ref live, ref oldest);
        }

        for (var r = 0; r < _runCount; r++)
        {
            foreach (var id in _runs![r].Ids)
            {
                Count(id.TimestampMs, bound, ref live, ref oldest);
            }
        }

        return live;

        static void Count(long time, long bound, ref int live, ref long oldest)
        {
            if (time >= bound)
            {
                live++;
                oldest = Math.Min(oldest, time);
            }
        }
    }

    /// <summary>Rewrites the sealed runs without their ids behind <paramref name="bound"/> (after a cap moved the horizon).</summary>
    public void CompactRuns(long bound)
    {
        for (var r = 0; r < _runCount; r++)
        {
            var run = _runs![r].Ids;
            var live = 0;
            foreach (var id in run)
            {
                if (id.TimestampMs >= bound) live++;
            }

            if (live < run.Length)
            {
                var kept = new SeenId[live];
                var k = 0;
                foreach (var id in run)
                {
                    if (id.TimestampMs >= bound) kept[k++] = id;
                }

                _runs[r] = new SealedRun(kept, _runs[r].Newest);
            }
        }

        DropExpiredRuns(bound);
    }

    /// <summary>Every id retained at or after <paramref name="bound"/>, open ones first.</summary>
    public readonly void CopyLive(long bound, List<SeenId> into)
    {
        foreach (var id in Open)
        {
            if (id.TimestampMs >= bound) into.Add(id);
        }

        for (var r = 0; r < _runCount; r++)
        {
            foreach (var id in _runs![r].Ids)
            {
                if (id.TimestampMs >= bound) into.Add(id);
            }
        }
    }

    private readonly int FindOpen(ulong hash)
    {
        if (_index is null)
        {
            for (var i = _openCount - 1; i >= 0; i--)
            {
                if (_open[i].IdHash == hash) return i;
            }

            return -1;
        }

        var mask = _index.Length - 1;
        for (var slot = (int)(hash & (ulong)mask); ; slot = (slot + 1) & mask)
        {
            var entry = _index[slot];
            if (entry == 0) return -1;
            if (_open[entry - 1].IdHash == hash) return entry - 1;
        }
    }

    private readonly void IndexInsert(int[] index, int position)
    {
        var hash = _open[position].IdHash;
        var mask = index.Length - 1;
        for (var slot = (int)(hash & (ulong)mask); ; slot = (slot + 1) & mask)
        {
            var entry = index[slot];
            if (entry == 0 || _open[entry - 1].IdHash == hash)
            {
                index[slot] = position + 1;
                return;
            }
        }
    }

    private void RebuildIndex()
    {
        if (_openCount < IndexFrom)
        {
            _index = null;
            return;
        }

        var capacity = 16;
        while (capacity < 2 * _openCount) capacity <<= 1;
        var index = _index is { } old && old.Length == capacity && old.Length < 4 * _openCount ? old : new int[capacity];
        Array.Clear(index);
        for (var i = 0; i < _openCount; i++)
        {
            IndexInsert(index, i);
        }

        _index = index;
    }

    private void ShrinkOpen()
    {
        // A burst grew it: give the memory back once it is mostly empty.
        if (_open.Length > 16 && _openCount <= _open.Length / 4)
        {
            Array.Resize(ref _open, Math.Max(4, _openCount * 2));
        }
    }

    private static int Find(SeenId[] run, ulong hash)
    {
        int lo = 0, hi = run.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var at = run[mid].IdHash;
            if (at == hash) return mid;
            if (at < hash) lo = mid + 1;
            else hi = mid - 1;
        }

        return -1;
    }
}

/// <summary>A sealed run: its ids sorted by hash, and the greatest event time among them (the run is dropped once the bound passes it).</summary>
internal readonly record struct SealedRun(SeenId[] Ids, long Newest);
