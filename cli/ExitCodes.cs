namespace OrleansFeatures.Cli;

/// <summary>The process exit codes of <c>ofs</c>, documented in <c>cli/README.md</c>; scripts and CI branch on them.</summary>
public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>Bad command-line arguments (System.CommandLine's own code for a parse error).</summary>
    public const int Usage = 1;

    /// <summary>Invalid definitions or input data, or a name the store does not know.</summary>
    public const int Invalid = 2;

    /// <summary>The store refused the change: a breaking change without a version bump, or a stale expected version.</summary>
    public const int Refused = 3;

    /// <summary>The store could not be reached or failed the call.</summary>
    public const int Unavailable = 4;

    /// <summary>Some events were rejected or failed (push, backfill); the rest went through.</summary>
    public const int Partial = 5;
}
