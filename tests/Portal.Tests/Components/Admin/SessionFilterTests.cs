using Portal.Components.Admin;
using Portal.Sessions;

namespace Portal.Tests.Components.Admin;

public sealed class SessionFilterTests
{
    [Fact]
    public void ToUri_Defaults_IsThePlainPath()
    {
        Assert.Equal("/admin/sessions", new SessionFilter().ToUri());
    }

    [Fact]
    public void ToUri_ThenFromUri_GivesTheSameFilter()
    {
        var filter = new SessionFilter
        {
            Kind = SessionKinds.CesProxy,
            Status = SessionStatuses.Ended,
            Owner = "alice@",
            Agent = "gpt 4.1",
            From = new DateOnly(2026, 11, 1),
            To = new DateOnly(2026, 11, 30),
            Text = "invoice & \"total\"",
            Sort = SessionSort.EventCount,
            Descending = false,
            Page = 3,
        };

        var uri = filter.ToUri();

        Assert.Equal(filter, SessionFilter.FromUri("http://127.0.0.1:5000" + uri));
        Assert.Contains("kind=ces-proxy", uri, StringComparison.Ordinal);
        Assert.Contains("sort=events&dir=asc", uri, StringComparison.Ordinal);
        Assert.Contains("from=2026-11-01", uri, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/admin/sessions?kind=bogus")]
    [InlineData("/admin/sessions?status=sleeping")]
    [InlineData("/admin/sessions?sort=Payload")]
    [InlineData("/admin/sessions?page=-2")]
    [InlineData("/admin/sessions?page=abc")]
    [InlineData("/admin/sessions?from=yesterday")]
    [InlineData("/admin/sessions?q=%20%20")]
    [InlineData("/admin/sessions?kind=chat&kind=agent")]
    public void FromUri_ValuesThatDoNotParse_AreIgnored(string uri)
    {
        Assert.Equal(new SessionFilter(), SessionFilter.FromUri(uri));
    }

    [Fact]
    public void ToQuery_DatesAreWholeUtcDays_ToIsInclusive()
    {
        var query = new SessionFilter { From = new DateOnly(2026, 11, 1), To = new DateOnly(2026, 11, 30) }.ToQuery();

        Assert.Equal(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero), query.From);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero), query.To);
    }

    [Fact]
    public void ToQuery_CarriesFiltersOrderAndPage()
    {
        var query = new SessionFilter { Kind = "chat", Owner = "bob", Text = "hi", Sort = SessionSort.Owner, Descending = false, Page = 2 }.ToQuery();

        Assert.Equal(("chat", "bob", "hi", SessionSort.Owner, false, 2, SessionFilter.PageSize),
            (query.Kind, query.OwnerEmail, query.Text, query.Sort, query.Descending, query.Page, query.PageSize));
    }

    [Fact]
    public void SelectsSameAs_IgnoresOrderAndPage_NotFilters()
    {
        var filter = new SessionFilter { Kind = "chat" };

        Assert.True(filter.SelectsSameAs(filter with { Page = 4, Sort = SessionSort.Title, Descending = false }));
        Assert.False(filter.SelectsSameAs(filter with { Text = "x" }));
    }
}
