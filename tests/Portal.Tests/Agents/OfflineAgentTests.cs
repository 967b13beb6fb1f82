using Microsoft.Extensions.Options;
using Portal.Agents.Offline;

namespace Portal.Tests.Agents;

public sealed class OfflineAgentTests
{
    [Fact]
    public void Reply_SameInput_SameReply()
    {
        Assert.Equal(OfflineAgent.Reply("Hello there"), OfflineAgent.Reply("Hello there"));
    }

    [Fact]
    public void Reply_SaysItIsTheOfflineAgent()
    {
        Assert.StartsWith(OfflineAgent.Label, OfflineAgent.Reply("anything"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamReply_PiecesJoinedTogether_AreTheWholeReply()
    {
        var agent = new OfflineAgent(Options.Create(new OfflineAgentOptions { TokenDelay = TimeSpan.Zero }), TimeProvider.System);
        var pieces = new List<string>();
        await foreach (var piece in agent.StreamReplyAsync("count these four words", TestContext.Current.CancellationToken))
        {
            pieces.Add(piece);
        }

        Assert.True(pieces.Count > 10);
        Assert.DoesNotContain(string.Empty, pieces);
        Assert.Equal(OfflineAgent.Reply("count these four words"), string.Concat(pieces));
    }
}
