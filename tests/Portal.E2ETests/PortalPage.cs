using Microsoft.Playwright;
using Portal.Testing;

namespace Portal.E2ETests;

/// <summary>What a person does on Portal's pages, in Playwright steps.</summary>
internal static class PortalPage
{
    public static async Task<IPage> SignInAsync(IBrowser browser, PortalTestServer server, string email, string password = PortalTestServer.Password,
        ColorScheme colorScheme = ColorScheme.Light)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = server.BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = 1280, Height = 800 },
            ColorScheme = colorScheme, // the system's setting, as the browser reports it
        });
        context.SetDefaultTimeout(20_000);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/");
        await page.WaitForURLAsync("**/account/login**");
        await page.GetByLabel("E-mail").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync(server.BaseAddress.ToString());
        await WaitForInteractiveAsync(page);
        return page;
    }

    /// <summary>Waits until the Blazor circuit is up, so typed text reaches the server.</summary>
    public static async Task WaitForInteractiveAsync(IPage page) =>
        await page.WaitForSelectorAsync("textarea[data-portal-attached=true]");

    public static async Task SendAsync(IPage page, string text)
    {
        var composer = page.GetByLabel("Message", new() { Exact = true });
        await composer.FillAsync(text);
        await composer.PressAsync("Enter");
    }

    public static async Task ScreenshotAsync(IPage page, string name)
    {
        await page.EvaluateAsync("() => document.fonts.ready");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotFolder, name + ".png"), FullPage = true });
    }
}
