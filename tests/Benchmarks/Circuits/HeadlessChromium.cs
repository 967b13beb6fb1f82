using Microsoft.Playwright;
using Portal.Benchmarks.Proxy;

namespace Portal.Benchmarks.Circuits;

/// <summary>
/// One headless Chromium (Debian's, at /usr/bin/chromium or PORTAL_CHROMIUM) driven by Playwright, as the E2E tests
/// launch it, plus the flags that keep tabs that are not in front from being throttled.
/// </summary>
internal sealed class HeadlessChromium : IAsyncDisposable
{
    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;

    private HeadlessChromium(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        _browser = browser;
    }

    public string Version => _browser.Version;

    public static async Task<HeadlessChromium> LaunchAsync()
    {
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Environment.GetEnvironmentVariable("PORTAL_CHROMIUM") ?? "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"],
        });
        return new HeadlessChromium(playwright, browser);
    }

    /// <summary>
    /// A browser context (cookies shared by its tabs) on <paramref name="server"/> with one tab on "/" whose circuit is
    /// up; on Portal that tab signed in as the administrator through the form first.
    /// </summary>
    public async Task<IBrowserContext> NewContextAsync(CircuitServer server, string? initScript = null)
    {
        var context = await _browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = server.BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = 1280, Height = 800 },
        });
        context.SetDefaultTimeout(120_000);
        if (initScript is not null)
        {
            await context.AddInitScriptAsync(initScript);
        }
        var page = await context.NewPageAsync();
        if (server.IsPortal)
        {
            await page.GotoAsync("/account/login");
            await page.GetByLabel("E-mail").FillAsync(ProcessTools.AdminEmail);
            await page.GetByLabel("Password").FillAsync(ProcessTools.AdminPassword);
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
            await page.WaitForURLAsync(server.BaseAddress.ToString());
        }
        else
        {
            await page.GotoAsync("/");
        }
        await WaitForInteractiveAsync(page, server);
        return context;
    }

    /// <summary>Opens <paramref name="count"/> tabs on "/", a few at a time, each until its circuit is up.</summary>
    public static async Task<List<IPage>> OpenTabsAsync(IBrowserContext context, CircuitServer server, int count)
    {
        using var gate = new SemaphoreSlim(4);
        var opening = Enumerable.Range(0, count).Select(async _ =>
        {
            await gate.WaitAsync();
            try
            {
                var page = await context.NewPageAsync();
                await page.GotoAsync("/");
                await WaitForInteractiveAsync(page, server);
                return page;
            }
            finally
            {
                gate.Release();
            }
        });
        return [.. await Task.WhenAll(opening)];
    }

    /// <summary>Until the page's circuit has rendered: Portal's composer attached by its script, the counter's data-interactive.</summary>
    public static Task WaitForInteractiveAsync(IPage page, CircuitServer server) =>
        page.WaitForSelectorAsync(server.IsPortal ? "textarea[data-portal-attached=true]" : "p[data-interactive=true]");

    public async ValueTask DisposeAsync()
    {
        await _browser.CloseAsync();
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }
}
