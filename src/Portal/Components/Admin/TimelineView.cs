using Portal.Sessions;

namespace Portal.Components.Admin;

/// <summary>
/// The page of a session's timeline an admin looks at, newest first: at most one page is read at a time, older ones on
/// demand, and live events join the top while the newest page is shown (or are counted as waiting otherwise).
/// A plain class: the page component loads pages into it and renders what it holds.
/// </summary>
public sealed class TimelineView
{
    /// <summary>Most events kept in view while the live tail adds to the newest page.</summary>
    public const int MaxShown = 200;

    private readonly List<SessionEvent> _events = [];
    private readonly Stack<long> _newerCursors = new();

    /// <summary>The events shown, newest first.</summary>
    public IReadOnlyList<SessionEvent> Events => _events;

    /// <summary>Only events of this type are shown; null for all.</summary>
    public string? Type { get; private set; }

    /// <summary>The page read last was shorter than a page: nothing older is left.</summary>
    public bool AtOldest { get; private set; }

    /// <summary>The newest events are in view, so live ones are added as they come.</summary>
    public bool AtNewest => _newerCursors.Count == 0;

    /// <summary>Live events of the shown type that arrived while an older page was in view.</summary>
    public int Waiting { get; private set; }

    /// <summary>The seq the page in view starts below (exclusive).</summary>
    public long Cursor { get; private set; } = long.MaxValue;

    /// <summary>The highest seq known to the view: the snapshot's, then the live tail's.</summary>
    public long LastSeq { get; private set; }

    /// <summary>Starts over on the newest page, below <paramref name="lastSeq"/> + 1, showing <paramref name="type"/> only when given.</summary>
    public void Reset(long lastSeq, string? type)
    {
        LastSeq = Math.Max(LastSeq, lastSeq);
        Type = type;
        Cursor = LastSeq + 1;
        _newerCursors.Clear();
        _events.Clear();
        Waiting = 0;
        AtOldest = false;
    }

    /// <summary>Shows a page read below <see cref="Cursor"/>.</summary>
    public void ShowPage(IReadOnlyList<SessionEvent> page, int pageSize)
    {
        _events.Clear();
        _events.AddRange(page);
        AtOldest = page.Count < pageSize;
        if (AtNewest)
        {
            Waiting = 0;
        }
    }

    /// <summary>The cursor of the next older page; remembers the current one for <see cref="Newer"/>.</summary>
    public long Older()
    {
        _newerCursors.Push(Cursor);
        Cursor = _events.Count > 0 ? _events[^1].Seq : Cursor;
        return Cursor;
    }

    /// <summary>The cursor of the page before the last <see cref="Older"/>.</summary>
    public long Newer()
    {
        Cursor = _newerCursors.Count > 0 ? _newerCursors.Pop() : LastSeq + 1;
        if (AtNewest)
        {
            // Back on the newest page: it also covers what arrived live meanwhile.
            Cursor = LastSeq + 1;
        }
        return Cursor;
    }

    /// <summary>Live events, oldest first: added on top of the newest page, counted otherwise.</summary>
    public void Append(IEnumerable<SessionEvent> live)
    {
        foreach (var e in live)
        {
            if (e.Seq <= LastSeq)
            {
                continue;
            }
            LastSeq = e.Seq;
            if (Type is not null && e.Type != Type)
            {
                continue;
            }
            if (!AtNewest)
            {
                Waiting++;
                continue;
            }
            _events.Insert(0, e);
            Cursor = LastSeq + 1;
            if (_events.Count > MaxShown)
            {
                _events.RemoveAt(_events.Count - 1);
                AtOldest = false;
            }
        }
    }
}
