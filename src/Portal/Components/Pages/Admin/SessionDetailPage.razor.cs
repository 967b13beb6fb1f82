using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Portal.Admin;
using Portal.Components.Admin;
using Portal.Sessions;
using Radzen;

namespace Portal.Components.Pages.Admin;

/// <summary>
/// One session as an admin reviews it: facts, the summary panels, the timeline a page at a time, and the live tail
/// after the snapshot the page opened with. Export and delete. Reading someone else's session is not audited yet
/// (a later issue).
/// </summary>
public sealed partial class SessionDetailPage : IAsyncDisposable
{
    /// <summary>After live events, the session's row is read again this much later (its status changes without an event).</summary>
    private static readonly TimeSpan FactsRefreshDelay = TimeSpan.FromSeconds(1);

    private static readonly IReadOnlyDictionary<string, long> NoTypes = new Dictionary<string, long>();
    private readonly TimelineView _timeline = new();
    private SessionDigest? _digest; // null until the log has been summed up
    private SessionInfo? _session;
    private LiveTail? _tail;
    private bool _notFound;
    private bool _loadingPage;
    private bool _deleting;
    private bool _deleted;
    private bool _factsRefreshPending;
    private readonly CancellationTokenSource _closing = new();

    [Parameter]
    public string SessionId { get; set; } = "";

    [CascadingParameter]
    private Task<AuthenticationState> AuthenticationState { get; set; } = default!;

    [Inject]
    private SessionReview Review { get; set; } = default!;

    [Inject]
    private DialogService Dialogs { get; set; } = default!;

    [Inject]
    private NavigationManager Navigation { get; set; } = default!;

    protected override async Task OnInitializedAsync()
    {
        if (!RendererInfo.IsInteractive)
        {
            return; // prerendering: the interactive render does the reading, once
        }
        var snapshot = await Review.OpenAsync(SessionId, CancellationToken.None);
        if (snapshot is null)
        {
            _notFound = true;
            return;
        }
        _session = snapshot.Session;
        _timeline.Reset(snapshot.LastSeq, type: null);
        await LoadPageAsync();
        StateHasChanged(); // the timeline first; the panels need a pass over the whole log
        _digest = await Review.SummarizeAsync(SessionId, snapshot.LastSeq, CancellationToken.None);
        // Live events from the snapshot's seq on: the digest and the timeline both end there.
        _tail = new LiveTail(ct => Review.FollowAsync(SessionId, snapshot.LastSeq, ct), OnLiveAsync, OnEndedAsync);
    }

    private async Task ShowPageAsync(TimelineRequest request)
    {
        if (request.Type != _timeline.Type || request.Move == TimelineMove.Newest)
        {
            _timeline.Reset(_timeline.LastSeq, request.Type);
        }
        else if (request.Move == TimelineMove.Older)
        {
            _timeline.Older();
        }
        else
        {
            _timeline.Newer();
        }
        await LoadPageAsync();
    }

    private async Task LoadPageAsync()
    {
        _loadingPage = true;
        try
        {
            var page = await Review.ReadPageAsync(SessionId, _timeline.Cursor, _timeline.Type, CancellationToken.None);
            _timeline.ShowPage(page, SessionReview.PageSize);
        }
        finally
        {
            _loadingPage = false;
        }
    }

    private Task OnLiveAsync(IReadOnlyList<SessionEvent> batch) => InvokeAsync(() =>
    {
        foreach (var e in batch)
        {
            _digest?.Add(e);
        }
        _timeline.Append(batch);
        if (_session is not null)
        {
            _session = _session with { EventCount = Math.Max(_session.EventCount, _timeline.LastSeq), LastActivityAt = batch[^1].Time };
        }
        ScheduleFactsRefresh();
        StateHasChanged();
    });

    /// <summary>Reads the session's row again a moment after live events, once however many arrive meanwhile.</summary>
    private void ScheduleFactsRefresh()
    {
        if (!_factsRefreshPending && !_closing.IsCancellationRequested)
        {
            _factsRefreshPending = true;
            _ = RefreshFactsAsync(_closing.Token);
        }
    }

    private async Task RefreshFactsAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(FactsRefreshDelay, cancellationToken);
            var fresh = await Review.GetAsync(SessionId, cancellationToken);
            await InvokeAsync(() =>
            {
                _factsRefreshPending = false;
                if (fresh is not null && _session is not null && !_deleted)
                {
                    _session = fresh with { EventCount = Math.Max(fresh.EventCount, _timeline.LastSeq) };
                    StateHasChanged();
                }
            });
        }
        catch (OperationCanceledException)
        {
            // the page was left
        }
    }

    private Task OnEndedAsync() => InvokeAsync(() =>
    {
        if (!_deleting)
        {
            _deleted = true;
            StateHasChanged();
        }
    });

    private async Task DeleteAsync()
    {
        if (_session is null)
        {
            return;
        }
        var confirmed = await Dialogs.Confirm(
            $"Delete “{_session.Title ?? _session.Id}” and its {AdminFormat.Count(_timeline.LastSeq)} events? This cannot be undone.",
            "Delete session",
            new ConfirmOptions { OkButtonText = "Delete", CancelButtonText = "Cancel", CssClass = "portal-danger-dialog" });
        if (confirmed != true)
        {
            return;
        }
        _deleting = true;
        if (_tail is not null)
        {
            await _tail.DisposeAsync();
            _tail = null;
        }
        var user = (await AuthenticationState).User;
        await Review.DeleteAsync(SessionId, user, CancellationToken.None);
        Navigation.NavigateTo("/admin/sessions");
    }

    public async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync();
        if (_tail is not null)
        {
            await _tail.DisposeAsync();
        }
        _closing.Dispose();
    }
}
