using System.Globalization;
using Microsoft.AspNetCore.WebUtilities;
using Portal.Sessions;

namespace Portal.Components.Admin;

/// <summary>
/// What the admin's sessions grid shows: filters, order and page. It lives in the page's URL
/// (<c>/admin/sessions?kind=chat&amp;q=invoice&amp;sort=events&amp;dir=asc&amp;page=2</c>), so a filtered view can be shared
/// and survives a refresh; values that do not parse are ignored rather than refused.
/// </summary>
public sealed record SessionFilter
{
    public const string Path = "/admin/sessions";
    public const int PageSize = 25;

    public string? Kind { get; init; }
    public string? Status { get; init; }
    /// <summary>Part of the owner's e-mail address.</summary>
    public string? Owner { get; init; }
    public string? Agent { get; init; }
    /// <summary>Sessions active on or after this day (UTC).</summary>
    public DateOnly? From { get; init; }
    /// <summary>Sessions created on or before this day (UTC).</summary>
    public DateOnly? To { get; init; }
    /// <summary>Words in the title or the messages.</summary>
    public string? Text { get; init; }
    public SessionSort Sort { get; init; } = SessionSort.LastActivity;
    public bool Descending { get; init; } = true;
    public int Page { get; init; } = 1;

    /// <summary>True when any filter narrows the list (order and page aside).</summary>
    public bool IsFiltered => Kind is not null || Status is not null || Owner is not null || Agent is not null
        || From is not null || To is not null || Text is not null;

    /// <summary>The same sessions are selected (only the order or the page differs).</summary>
    public bool SelectsSameAs(SessionFilter other) =>
        this with { Sort = other.Sort, Descending = other.Descending, Page = other.Page } == other;

    public static SessionFilter FromUri(string uri)
    {
        var question = uri.IndexOf('?', StringComparison.Ordinal);
        if (question < 0)
        {
            return new SessionFilter();
        }
        var query = QueryHelpers.ParseQuery(uri[question..].Split('#', 2)[0]);
        string? Text(string name) => query.TryGetValue(name, out var value) && value.Count == 1 && !string.IsNullOrWhiteSpace(value[0])
            ? value[0]!.Trim()
            : null;
        var sort = SessionSorts.TryParse(Text("sort"), out var parsed) ? parsed : SessionSort.LastActivity;
        return new SessionFilter
        {
            Kind = SessionKinds.IsKnown(Text("kind")) ? Text("kind") : null,
            Status = SessionStatuses.IsKnown(Text("status")) ? Text("status") : null,
            Owner = Limit(Text("owner")),
            Agent = Limit(Text("agent")),
            From = Day(Text("from")),
            To = Day(Text("to")),
            Text = Limit(Text("q")),
            Sort = sort,
            Descending = Text("dir") is not { } dir ? true : !string.Equals(dir, "asc", StringComparison.OrdinalIgnoreCase),
            Page = int.TryParse(Text("page"), NumberStyles.None, CultureInfo.InvariantCulture, out var page) && page is > 0 and <= 100_000 ? page : 1,
        };
    }

    /// <summary>The page's URL for this filter; what is at its default is left out.</summary>
    public string ToUri()
    {
        var parameters = new List<KeyValuePair<string, string?>>();
        void Add(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value))
            {
                parameters.Add(new(name, value));
            }
        }
        Add("kind", Kind);
        Add("status", Status);
        Add("owner", Owner);
        Add("agent", Agent);
        Add("from", From?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        Add("to", To?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        Add("q", Text);
        if (Sort != SessionSort.LastActivity || !Descending)
        {
            Add("sort", SessionSorts.Name(Sort));
            Add("dir", Descending ? "desc" : "asc");
        }
        if (Page > 1)
        {
            Add("page", Page.ToString(CultureInfo.InvariantCulture));
        }
        return QueryHelpers.AddQueryString(Path, parameters);
    }

    public SessionQuery ToQuery() => new()
    {
        Page = Page,
        PageSize = PageSize,
        Kind = Kind,
        Status = Status,
        OwnerEmail = Owner,
        Agent = Agent,
        From = From is { } from ? new DateTimeOffset(from.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero) : null,
        // "To" is inclusive: sessions created before the next day began.
        To = To is { } to ? new DateTimeOffset(to.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero) : null,
        Text = Text,
        Sort = Sort,
        Descending = Descending,
    };

    private static DateOnly? Day(string? text) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) ? day : null;

    private static string? Limit(string? text) => text is { Length: > 200 } ? text[..200] : text;
}
