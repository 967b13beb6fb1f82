using System.Text.Json;
using Microsoft.Playwright;
using Portal.Testing;
using Portal.Testing.Fakes;

namespace Portal.E2ETests;

/// <summary>
/// The Google button area on the sign-in page, in Chromium. accounts.google.com is not reachable from tests, so its
/// script is answered by a stand-in with the same surface (google.accounts.id.initialize/renderButton) whose button
/// hands portal.js a token signed by <see cref="FakeGoogleIdentity"/>, as Google's popup would.
/// </summary>
public sealed class GoogleSignInTests(BrowserFixture browser)
{
    private static async Task<IPage> OpenSignInPageAsync(IBrowser browser, PortalTestServer server, string? credential)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = server.BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = 1280, Height = 800 },
        });
        context.SetDefaultTimeout(20_000);
        var page = await context.NewPageAsync();
        await page.RouteAsync("https://accounts.google.com/**", route => route.FulfillAsync(new RouteFulfillOptions
        {
            ContentType = "text/javascript",
            Body = StandInScript(credential),
        }));
        await page.GotoAsync("/account/login");
        return page;
    }

    private static string StandInScript(string? credential) => $$"""
        window.google = { accounts: { id: {
          initialize(config) { window.__gis = config; },
          renderButton(place) {
            const button = document.createElement('button');
            button.type = 'button';
            button.textContent = 'Continue with Google';
            button.onclick = () => window.__gis.callback({ credential: {{JsonSerializer.Serialize(credential ?? "")}}, select_by: 'btn' });
            place.appendChild(button);
          },
        } } };
        """;

    [Fact]
    public async Task LoginPage_WithoutGoogleConfigured_ShowsNoGoogleButton()
    {
        await using var server = await PortalTestServer.StartAsync();
        var page = await OpenSignInPageAsync(browser.Browser, server, credential: null);

        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Sign in", Exact = true })).ToBeVisibleAsync();
        await PortalPage.ScreenshotAsync(page, "signin-01-password-only");

        Assert.Equal(0, await page.GetByTestId("google-signin").CountAsync());
    }

    [Fact]
    public async Task LoginPage_WithGoogleConfigured_ShowsTheGoogleButtonWhichSignsIn()
    {
        await using var google = await FakeGoogleIdentity.StartAsync();
        await using var server = await PortalTestServer.StartAsync(google.Settings());
        await server.CreateUserAsync("alice@example.com");
        var page = await OpenSignInPageAsync(browser.Browser, server, google.IssueIdToken("alice@example.com"));

        var button = page.GetByTestId("google-signin").GetByRole(AriaRole.Button, new() { Name = "Continue with Google" });
        await Assertions.Expect(button).ToBeVisibleAsync();
        await PortalPage.ScreenshotAsync(page, "signin-02-with-google");
        await button.ClickAsync();

        await page.WaitForURLAsync(server.BaseAddress.ToString());
        await PortalPage.WaitForInteractiveAsync(page);
        await Assertions.Expect(page.Locator(".portal-user-name")).ToHaveTextAsync("alice@example.com");
        await PortalPage.ScreenshotAsync(page, "signin-03-signed-in-with-google");
    }
}
