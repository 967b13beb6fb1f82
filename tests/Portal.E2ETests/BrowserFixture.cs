using Microsoft.Playwright;

[assembly: AssemblyFixture(typeof(Portal.E2ETests.BrowserFixture))]

namespace Portal.E2ETests;

/// <summary>One headless Chromium (Debian's, at /usr/bin/chromium or PORTAL_CHROMIUM) for the whole test run.</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = default!;

    /// <summary>Where screenshots go: artifacts/screenshots at the repository root.</summary>
    public static string ScreenshotFolder { get; } = FindScreenshotFolder();

    public async ValueTask InitializeAsync()
    {
        _playwright = await Playwright.CreateAsync();
        // As patient as actions (20 s): on a loaded 2-core machine a server round trip plus a render can pass 5 s.
        Assertions.SetDefaultExpectTimeout(20_000);
        Browser = await LaunchAsync();
    }

    /// <summary>Another Chromium like <see cref="Browser"/>, with more command-line switches (e.g. a dark system theme).</summary>
    public Task<IBrowser> LaunchAsync(params string[] switches) =>
        _playwright!.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Environment.GetEnvironmentVariable("PORTAL_CHROMIUM") ?? "/usr/bin/chromium",
            Headless = true,
            // Root in a sandbox with no network: no sandbox, and none of Chromium's own background connections.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", .. switches],
        });

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }
        _playwright?.Dispose();
    }

    private static string FindScreenshotFolder()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Portal.sln")))
        {
            directory = directory.Parent;
        }
        var folder = Path.Combine(directory?.FullName ?? AppContext.BaseDirectory, "artifacts", "screenshots");
        Directory.CreateDirectory(folder);
        return folder;
    }
}
