using System.Net;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Portal.Components.Layout;
using Portal.Sessions;
using Portal.Testing;

namespace Portal.E2ETests;

/// <summary>A person makes an API token for a program on the settings page, the program uses it, the person revokes it.</summary>
public sealed partial class TokensTests(BrowserFixture browser)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TokensPage_CreateUseAndRevoke_ShownOnceThenTheProgramIsRefused()
    {
        await using var server = await PortalTestServer.StartAsync();
        var aliceId = await server.CreateUserAsync("alice@portal.test");
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await page.Context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"]);

        await page.GetByTestId("nav-tokens").ClickAsync();
        await page.WaitForURLAsync("**/settings/tokens");
        await Assertions.Expect(page.GetByTestId("tokens-empty")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByTestId("scope-admin")).ToHaveCountAsync(0); // only admins can grant it

        // Create: a name, the agent scope, the default expiry.
        await page.GetByTestId("token-name").FillAsync("build server");
        await page.GetByTestId("scope-agent").ClickAsync();
        await page.GetByTestId("token-create").ClickAsync();
        var secret = page.GetByTestId("token-secret");
        await Assertions.Expect(secret).ToHaveTextAsync(TokenShape());
        var token = await secret.InnerTextAsync();
        await page.GetByTestId("token-copy").ClickAsync();
        // What the person gets: the token on the clipboard. The button says "Copied" for 1.5 s, which a loaded machine's
        // polling can miss (it did once in CI); the label it keeps to go back to shows the feedback ran.
        await Assertions.Expect(page.GetByTestId("token-copy")).ToHaveAttributeAsync("data-copy-label", "Copy");
        Assert.Equal(token.Trim(), (await page.EvaluateAsync<string>("() => navigator.clipboard.readText()")).Trim());
        await Assertions.Expect(page.GetByTestId("token-row-name")).ToHaveTextAsync("build server");
        await ScreenshotAsync(page, "tokens-01-created");

        // A program uses it on /ws/agent, as Alice.
        await using (var program = await AgentSocketClient.ConnectWithTokenAsync(server, token))
        {
            var session = await server.Services.GetRequiredService<ISessionStore>().GetAsync(program.SessionId!, Ct);
            Assert.Equal(aliceId, session!.OwnerId);
        }

        // Shown once: dismissed, and after a reload only its prefix is left, with the time it was last used.
        await page.GetByTestId("token-done").ClickAsync();
        await Assertions.Expect(page.GetByTestId("token-created")).ToHaveCountAsync(0);
        await page.ReloadAsync();
        // The live page, not the prerendered one: when the circuit starts the page renders again ("Loading" until its
        // query returns), and the HTML read below is the one the circuit keeps.
        await page.Locator("[data-testid=theme-toggle][data-interactive=true]").WaitForAsync();
        await Assertions.Expect(page.GetByTestId("token-row-name")).ToHaveTextAsync("build server");
        await Assertions.Expect(page.Locator("code.settings-prefix")).ToHaveTextAsync(token[..16] + "…"); // ptl_ and the 12-digit id
        var html = await page.ContentAsync();
        Assert.DoesNotContain(token, html, StringComparison.Ordinal);
        Assert.Contains(token[..16] + "…", html, StringComparison.Ordinal); // ptl_ and the 12-digit id
        await Assertions.Expect(page.GetByTestId("token-last-used")).Not.ToHaveTextAsync("never");
        await ScreenshotAsync(page, "tokens-02-list");

        // Revoke, after confirming.
        await Assertions.Expect(page.GetByTestId("token-revoke")).ToBeInViewportAsync(new() { Ratio = 1 });
        await page.GetByTestId("token-revoke").ClickAsync();
        var dialog = page.Locator("[role=dialog], [role=alertdialog]");
        await Assertions.Expect(dialog).ToContainTextAsync("This cannot be undone.");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Revoke" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("token-status")).ToHaveTextAsync("revoked");
        await Assertions.Expect(page.GetByTestId("token-status")).ToBeInViewportAsync(new() { Ratio = 1 });
        await Assertions.Expect(page.GetByTestId("token-revoke")).ToHaveCountAsync(0);
        await ScreenshotAsync(page, "tokens-03-revoked");

        // The program is refused before the upgrade.
        using var refused = new ClientWebSocket();
        refused.Options.CollectHttpResponseDetails = true;
        refused.Options.SetRequestHeader("Authorization", "Bearer " + token);
        await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(new Uri($"ws://{server.BaseAddress.Authority}/ws/agent"), Ct));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.HttpStatusCode);

        // The same page in the dark theme.
        await page.Context.AddCookiesAsync([new Microsoft.Playwright.Cookie { Name = PortalThemes.Cookie, Value = PortalThemes.Dark, Url = server.BaseAddress.ToString() }]);
        await page.ReloadAsync();
        await Assertions.Expect(page.GetByTestId("token-status")).ToHaveTextAsync("revoked");
        await ScreenshotAsync(page, "tokens-04-dark");
    }

    /// <summary>The whole page: Portal scrolls inside its main element, so the viewport is made as tall as that content first.</summary>
    private static async Task ScreenshotAsync(IPage page, string name)
    {
        var size = page.ViewportSize!;
        var height = await page.EvaluateAsync<int>("() => { const m = document.querySelector('.portal-main'); return Math.ceil(m.scrollHeight + m.getBoundingClientRect().top); }");
        await page.SetViewportSizeAsync(size.Width, Math.Clamp(height, size.Height, 6000));
        await PortalPage.ScreenshotAsync(page, name);
        await page.SetViewportSizeAsync(size.Width, size.Height);
    }

    [GeneratedRegex("^ptl_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")]
    private static partial Regex TokenShape();
}
