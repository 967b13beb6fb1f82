using Portal.Agents.Approvals;

namespace Portal.Tests.Agents.Approvals;

public sealed class ReviewDecisionsTests
{
    [Theory]
    [InlineData("yes", ReviewDecision.Yes)]
    [InlineData("YES", ReviewDecision.Yes)]
    [InlineData("Yes", ReviewDecision.Yes)]
    [InlineData("always", ReviewDecision.Always)]
    [InlineData("ALWAYS", ReviewDecision.Always)]
    [InlineData("no-continue", ReviewDecision.NoContinue)]
    [InlineData("NO_CONTINUE", ReviewDecision.NoContinue)]
    [InlineData("No_Continue", ReviewDecision.NoContinue)]
    [InlineData("no-exit", ReviewDecision.NoExit)]
    [InlineData("NO_EXIT", ReviewDecision.NoExit)]
    [InlineData("NO", ReviewDecision.NoExit)]
    [InlineData("no", ReviewDecision.NoExit)]
    [InlineData("explain", ReviewDecision.Explain)]
    [InlineData("EXPLAIN", ReviewDecision.Explain)]
    [InlineData("  yes\n", ReviewDecision.Yes)]
    [InlineData("\tNO_CONTINUE ", ReviewDecision.NoContinue)]
    public void TryParse_EitherSpellingAnyCase_IsRead(string text, ReviewDecision expected)
    {
        Assert.True(ReviewDecisions.TryParse(text, out var decision));
        Assert.Equal(expected, decision);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("maybe")]
    [InlineData("yes please")]
    [InlineData("no-way")]
    [InlineData("nocontinue")]
    [InlineData("always!")]
    [InlineData("ye s")]
    public void TryParse_UnknownText_IsFalse(string? text)
    {
        Assert.False(ReviewDecisions.TryParse(text, out _));
    }

    [Theory]
    [InlineData(ReviewDecision.Yes, "yes")]
    [InlineData(ReviewDecision.Always, "always")]
    [InlineData(ReviewDecision.NoContinue, "no-continue")]
    [InlineData(ReviewDecision.NoExit, "no-exit")]
    [InlineData(ReviewDecision.Explain, "explain")]
    public void WireName_EveryDecision_IsLowercaseAndReadsBack(ReviewDecision decision, string wire)
    {
        Assert.Equal(wire, decision.WireName());
        Assert.True(ReviewDecisions.TryParse(wire, out var read));
        Assert.Equal(decision, read);
    }
}
