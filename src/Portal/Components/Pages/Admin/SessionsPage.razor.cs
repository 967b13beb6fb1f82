using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Routing;
using Portal.Agents.Configuration;
using Portal.Components.Admin;
using Portal.Sessions;
using Radzen;
using Radzen.Blazor;

namespace Portal.Components.Pages.Admin;

/// <summary>
/// The admin's sessions _grid: server-side paging and sorting over every session, filters, and all of it in the URL.
/// The URL is the source of truth: _filter edits navigate to a new URL, and a new URL reloads the _grid.
/// </summary>
public sealed partial class SessionsPage : IDisposable
{
    private RadzenDataGrid<SessionInfo>? _grid;
    private IEnumerable<SessionInfo>? _rows; // null until loaded: the _grid asks LoadData for its first page only then
    private int _total = -1;
    private bool _loading;
    private SessionFilter _filter = new();
    private int _pageFromUrl = 1;
    private IReadOnlyList<string> _agentNames = [];

    [Inject]
    private ISessionStore Store { get; set; } = default!;

    [Inject]
    private NavigationManager Navigation { get; set; } = default!;

    [Inject]
    private AgentCatalog Agents { get; set; } = default!;

    private string TotalText => _total switch
    {
        < 0 => "",
        1 => "1 session",
        _ => $"{_total:N0} sessions",
    };

    protected override void OnInitialized()
    {
        _filter = SessionFilter.FromUri(Navigation.Uri);
        _pageFromUrl = _filter.Page;
        _agentNames = Agents.All.Select(a => a.Name).ToList();
        Navigation.LocationChanged += OnLocationChanged;
    }

    private SortOrder? SortOf(SessionSort sort) =>
        _filter.Sort != sort ? null : _filter.Descending ? SortOrder.Descending : SortOrder.Ascending;

    private async Task LoadAsync(LoadDataArgs args)
    {
        if (_pageFromUrl > 1 && _grid is not null)
        {
            // A shared or refreshed URL names a page: the _grid starts on its first, so it is sent there once.
            var page = _pageFromUrl;
            _pageFromUrl = 1;
            await _grid.GoToPage(page - 1, forceReload: true);
            return;
        }
        var pageSize = args.Top is > 0 ? args.Top.Value : SessionFilter.PageSize;
        var sort = args.Sorts?.FirstOrDefault(s => s.SortOrder is not null);
        var wanted = _filter with
        {
            Page = (args.Skip ?? 0) / pageSize + 1,
            Sort = sort is not null && SessionSorts.TryParse(sort.Property, out var column) ? column : SessionSort.LastActivity,
            Descending = sort is null || sort.SortOrder == SortOrder.Descending,
        };
        if (wanted != _filter)
        {
            _filter = wanted;
            Navigation.NavigateTo(_filter.ToUri(), new NavigationOptions { ReplaceHistoryEntry = true });
        }
        _loading = true;
        var result = await Store.ListAsync(_filter.ToQuery() with { PageSize = pageSize }, CancellationToken.None);
        _rows = result.Items;
        _total = result.Total;
        _loading = false;
    }

    /// <summary>Filter edits go into the URL; <see cref="OnLocationChanged"/> reloads.</summary>
    private void Apply(SessionFilter next) =>
        Navigation.NavigateTo(next.ToUri(), new NavigationOptions { ReplaceHistoryEntry = true });

    private void Clear() => Apply(new SessionFilter { Sort = _filter.Sort, Descending = _filter.Descending });

    private void OnLocationChanged(object? sender, LocationChangedEventArgs e)
    {
        if (!IsThisPage(e.Location))
        {
            return;
        }
        var next = SessionFilter.FromUri(e.Location);
        if (next.SelectsSameAs(_filter))
        {
            return; // the _grid's own page or order change, already loaded
        }
        _ = InvokeAsync(async () =>
        {
            _filter = next with { Page = 1 };
            if (_grid is not null)
            {
                await _grid.FirstPage(forceReload: true);
            }
            StateHasChanged();
        });
    }

    private bool IsThisPage(string location) =>
        Navigation.ToBaseRelativePath(location).Split('?', '#')[0].TrimEnd('/') == SessionFilter.Path.TrimStart('/');

    public void Dispose() => Navigation.LocationChanged -= OnLocationChanged;
}
