using System.Buffers;
using OrleansFeatures.Core.Engine;

namespace OrleansFeatures.Grains.State;

/// <summary>Maps the engine's view states to and from their persisted forms.</summary>
internal static class EngineStateMapper
{
    /// <summary>Buffers above this are not kept for the next write on the thread (a rare, very busy entity).</summary>
    private const int RetainedBufferBytes = 1 << 20;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    /// <summary>The persisted form of a view state (see <c>FeatureViewState.WriteTo</c>).</summary>
    public static byte[] Pack(FeatureViewState state)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        state.WriteTo(buffer);
        var packed = buffer.WrittenSpan.ToArray();
        if (buffer.Capacity > RetainedBufferBytes)
        {
            t_buffer = null;
        }

        return packed;
    }

    /// <summary>
    /// The read copy of a view state (see <c>FeatureViewState.WriteReadCopyTo</c>): what the warm tier keeps of an entity
    /// that deactivated, read feature by feature with <see cref="PackedViewReader"/> and never restored.
    /// </summary>
    public static byte[] PackForRead(FeatureViewState state)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        state.WriteReadCopyTo(buffer);
        var packed = buffer.WrittenSpan.ToArray();
        if (buffer.Capacity > RetainedBufferBytes)
        {
            t_buffer = null;
        }

        return packed;
    }

    public static int PackedViewVersion(byte[] packed) => FeatureViewState.ReadViewVersion(packed);

    public static FeatureViewState Unpack(CompiledFeatureView view, byte[] packed) =>
        FeatureViewState.Restore(view, FeatureViewState.ReadSnapshot(packed));

    /// <summary>
    /// A view state restored from its persisted (stored) form for reading only (cold reads from storage): its
    /// de-duplication ids are left out, as a read never consults them. The warm tier reads its read copies without
    /// restoring (<see cref="PackForRead"/>).
    /// </summary>
    public static FeatureViewState RestoreForRead(CompiledFeatureView view, byte[] packed)
    {
        // A snapshot just read is this call's own: dropping its ids keeps every other field (tile groups included).
        var snapshot = FeatureViewState.ReadSnapshot(packed);
        snapshot.SeenEvents.Clear();
        return FeatureViewState.Restore(view, snapshot);
    }

    /// <summary>Moves live state onto a recompiled view of the same version (a non-breaking definition change).</summary>
    public static FeatureViewState Rebind(FeatureViewState state, CompiledFeatureView view) => state.Rebind(view);
}
