using Portal.Components.Admin;
using Portal.Sessions;

namespace Portal.Tests.Components.Admin;

public sealed class TimelineViewTests
{
    private static SessionEvent E(long seq, string type = "t") =>
        new("s", seq, DateTimeOffset.UnixEpoch.AddSeconds(seq), EventDirections.In, type, EventActors.User, "{}", 2);

    private static List<SessionEvent> Page(long from, long to) => Enumerable.Range((int)to, (int)(from - to + 1)).Reverse().Select(i => E(i)).ToList();

    [Fact]
    public void Reset_StartsBelowTheSnapshotsLastSeq()
    {
        var view = new TimelineView();

        view.Reset(lastSeq: 250, type: null);

        Assert.Equal(251, view.Cursor);
        Assert.True(view.AtNewest);
    }

    [Fact]
    public void OlderThenNewer_MovesTheCursorAndBack()
    {
        var view = new TimelineView();
        view.Reset(250, null);
        view.ShowPage(Page(250, 151), 100);

        var older = view.Older();
        view.ShowPage(Page(150, 51), 100);
        var newer = view.Newer();

        Assert.Equal(151, older);
        Assert.Equal(251, newer);
        Assert.True(view.AtNewest);
    }

    [Fact]
    public void ShowPage_ShorterThanAPage_IsTheOldest()
    {
        var view = new TimelineView();
        view.Reset(30, null);

        view.ShowPage(Page(30, 1), 100);

        Assert.True(view.AtOldest);
    }

    [Fact]
    public void Append_OnTheNewestPage_AddsOnTopAndMovesTheCursor()
    {
        var view = new TimelineView();
        view.Reset(3, null);
        view.ShowPage(Page(3, 1), 100);

        view.Append([E(4), E(5)]);

        Assert.Equal([5L, 4, 3, 2, 1], view.Events.Select(e => e.Seq));
        Assert.Equal(6, view.Cursor);
        Assert.Equal(0, view.Waiting);
    }

    [Fact]
    public void Append_OnAnOlderPage_CountsTheEventsAsWaiting()
    {
        var view = new TimelineView();
        view.Reset(200, null);
        view.ShowPage(Page(200, 101), 100);
        view.Older();
        view.ShowPage(Page(100, 1), 100);

        view.Append([E(201), E(202)]);

        Assert.Equal(2, view.Waiting);
        Assert.Equal(100, view.Events[0].Seq);
        Assert.Equal(203, view.Newer()); // back on the newest page, which then covers them
    }

    [Fact]
    public void Append_WithATypeFilter_AddsOnlyThatType_ButKnowsEverySeq()
    {
        var view = new TimelineView();
        view.Reset(0, "wanted");
        view.ShowPage([], 100);

        view.Append([E(1, "other"), E(2, "wanted"), E(3, "other")]);

        Assert.Equal([2L], view.Events.Select(e => e.Seq));
        Assert.Equal(3, view.LastSeq);
    }

    [Fact]
    public void Append_SeqsAlreadyKnown_AreIgnored()
    {
        var view = new TimelineView();
        view.Reset(5, null);
        view.ShowPage(Page(5, 1), 100);

        view.Append([E(5), E(6)]);

        Assert.Equal([6L, 5, 4, 3, 2, 1], view.Events.Select(e => e.Seq));
    }

    [Fact]
    public void Append_BeyondMaxShown_DropsTheOldestFromView()
    {
        var view = new TimelineView();
        view.Reset(0, null);
        view.ShowPage([], 100);

        view.Append(Enumerable.Range(1, TimelineView.MaxShown + 50).Select(i => E(i)));

        Assert.Equal(TimelineView.MaxShown, view.Events.Count);
        Assert.Equal(TimelineView.MaxShown + 50, view.Events[0].Seq);
        Assert.False(view.AtOldest);
        Assert.Equal(51, view.Older()); // the next older page starts below the oldest shown
    }
}
