using System.Net;
using Portal.Testing;

namespace Portal.IntegrationTests.Components;

/// <summary>Which theme a page is served in: the one chosen with the toggle (a cookie), else the system's as the browser's client hint gives it.</summary>
public sealed class ThemeTests
{
    private const string Hint = "Sec-CH-Prefers-Color-Scheme";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("\"dark\"", "dark")]
    [InlineData("\"light\"", "light")]
    [InlineData(null, "light")]
    public async Task Page_WithoutAChosenTheme_FollowsTheSystemsSetting_AndAsksTheBrowserForIt(string? hint, string theme)
    {
        await using var server = await PortalTestServer.StartAsync();
        using var client = server.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/account/login");
        if (hint is not null)
        {
            request.Headers.Add(Hint, hint);
        }

        using var response = await client.SendAsync(request, Ct);
        var html = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains($"<html lang=\"en\" data-theme=\"{theme}\">", html, StringComparison.Ordinal);
        Assert.Contains(theme == "dark" ? "material-dark" : "material-base", html, StringComparison.Ordinal);
        Assert.Equal(Hint, Assert.Single(response.Headers.GetValues("Accept-CH")));
        Assert.Contains(Hint, response.Headers.Vary);
    }

    [Theory]
    [InlineData("material", "light")]
    [InlineData("material-dark", "dark")]
    public async Task Page_WithAChosenTheme_KeepsIt_WhateverTheSystemSays(string cookie, string theme)
    {
        await using var server = await PortalTestServer.StartAsync();
        var cookies = new CookieContainer();
        cookies.Add(server.BaseAddress, new Cookie("portal-theme", cookie));
        using var client = server.CreateClient(cookies);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/account/login");
        request.Headers.Add(Hint, theme == "dark" ? "\"light\"" : "\"dark\"");

        using var response = await client.SendAsync(request, Ct);
        var html = await response.Content.ReadAsStringAsync(Ct);

        Assert.Contains($"<html lang=\"en\" data-theme=\"{theme}\">", html, StringComparison.Ordinal);
        Assert.False(response.Headers.Contains("Accept-CH")); // nothing to ask for
    }
}
