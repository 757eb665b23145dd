using System.Globalization;
using System.Runtime.InteropServices;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>
/// Lowers the OS scheduling priority of the calling thread (its nice value, per thread on Linux), so that when the
/// cores are contended the kernel runs the process's other threads (request handling) first. Raising a nice value
/// needs no privilege; only Linux is supported (elsewhere every call reports it unsupported and changes nothing).
/// </summary>
public static class ThreadNice
{
    /// <summary>The highest nice value (the lowest priority) Linux accepts.</summary>
    public const int Max = 19;

    private const int PrioProcess = 0;

    /// <summary>True where per-thread nice values exist (Linux).</summary>
    public static bool IsSupported => OperatingSystem.IsLinux();

    /// <summary>The calling thread's kernel id (its entry under <c>/proc/self/task</c>); 0 where unsupported.</summary>
    public static int CurrentThreadId() => IsSupported ? gettid() : 0;

    /// <summary>
    /// Makes the calling thread <paramref name="lower"/> nice steps lower in priority than it runs now (at most
    /// <see cref="Max"/>), so a process started under <c>nice</c> keeps its workers below its own request threads.
    /// Returns the nice value set, or the reason it could not be (the thread keeps its priority).
    /// </summary>
    public static bool TryLowerCurrent(int lower, out int nice, out string? error)
    {
        nice = 0;
        error = null;
        if (!IsSupported)
        {
            error = "per-thread priorities are supported on Linux only";
            return false;
        }

        var tid = gettid();
        Marshal.SetLastPInvokeError(0);
        var current = getpriority(PrioProcess, tid);
        if (current == -1 && Marshal.GetLastPInvokeError() is var readErrno and not 0)
        {
            error = $"getpriority failed (errno {readErrno})";
            return false;
        }

        nice = Math.Min(Max, current + Math.Max(0, lower));
        if (setpriority(PrioProcess, tid, nice) != 0)
        {
            error = $"setpriority({nice}) failed (errno {Marshal.GetLastPInvokeError()})";
            return false;
        }

        return true;
    }

    /// <summary>The nice value of thread <paramref name="tid"/> of this process, read from <c>/proc</c>; null when it cannot be read.</summary>
    public static int? Read(int tid)
    {
        try
        {
            // Field 19 of stat; the command name (field 2) is in parentheses and may hold spaces, so count after it.
            var stat = File.ReadAllText($"/proc/self/task/{tid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[19 - 3], CultureInfo.InvariantCulture);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setpriority(int which, int who, int prio);

    [DllImport("libc", SetLastError = true)]
    private static extern int getpriority(int which, int who);

    [DllImport("libc")]
    private static extern int gettid();
}
