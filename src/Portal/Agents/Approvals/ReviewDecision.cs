namespace Portal.Agents.Approvals;

/// <summary>An answer to an approval request (seed 001's <c>ReviewDecision</c>).</summary>
public enum ReviewDecision
{
    /// <summary>Run this call.</summary>
    Yes,
    /// <summary>Run this call, and the same command (or the same files) again in this session without asking.</summary>
    Always,
    /// <summary>Do not run it; tell the model and let it go on.</summary>
    NoContinue,
    /// <summary>Do not run it, and end the turn.</summary>
    NoExit,
    /// <summary>Explain the call in plain words, then ask again.</summary>
    Explain,
}

public static class ReviewDecisions
{
    /// <summary>The wire names, as the reference code sends them.</summary>
    public static string WireName(this ReviewDecision decision) => decision switch
    {
        ReviewDecision.Yes => "yes",
        ReviewDecision.Always => "always",
        ReviewDecision.NoContinue => "no-continue",
        ReviewDecision.NoExit => "no-exit",
        ReviewDecision.Explain => "explain",
        _ => throw new ArgumentOutOfRangeException(nameof(decision)),
    };

    /// <summary>
    /// Reads a decision in either spelling, any case: the code's <c>yes</c>, <c>no-continue</c>, <c>no-exit</c>,
    /// <c>always</c>, <c>explain</c> and the README's <c>YES</c>, <c>NO</c>, <c>NO_CONTINUE</c>, <c>ALWAYS</c>,
    /// <c>EXPLAIN</c>; a bare <c>no</c> denies and stops.
    /// </summary>
    public static bool TryParse(string? text, out ReviewDecision decision)
    {
        var normal = text?.Trim().ToLowerInvariant().Replace('_', '-').Replace(' ', '-');
        (var known, decision) = normal switch
        {
            "yes" or "y" or "approve" or "approved" => (true, ReviewDecision.Yes),
            "always" or "yes-always" => (true, ReviewDecision.Always),
            "no-continue" => (true, ReviewDecision.NoContinue),
            "no" or "n" or "no-exit" or "deny" or "denied" => (true, ReviewDecision.NoExit),
            "explain" => (true, ReviewDecision.Explain),
            _ => (false, default),
        };
        return known;
    }

    public const string Accepted = "yes, always, no-continue, no-exit, explain (or YES, ALWAYS, NO_CONTINUE, NO, EXPLAIN)";
}
