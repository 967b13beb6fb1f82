using Microsoft.Playwright;
using Portal.Testing;

namespace Portal.E2ETests;

/// <summary>Portal used with the keyboard alone: every step below is a key press, never a click.</summary>
public sealed class KeyboardTests(BrowserFixture browser)
{
    [Fact]
    public async Task KeyboardOnly_SignInChatAndApprove_EveryStepReachableWithTabAndEnter()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("kim@portal.test");
        var context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = server.BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = 1280, Height = 800 },
        });
        context.SetDefaultTimeout(20_000);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/account/login");

        // Sign in: Tab until the e-mail field has focus, type, Tab to the password, type, Enter submits.
        await TabUntilAsync(page, "input[name='Input.Email']");
        await page.Keyboard.TypeAsync("kim@portal.test");
        await TabUntilAsync(page, "input[name='Input.Password']");
        await page.Keyboard.TypeAsync(PortalTestServer.Password);
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForURLAsync(server.BaseAddress.ToString());
        await PortalPage.WaitForInteractiveAsync(page);

        // The composer: reachable by Tab, Enter sends.
        await TabUntilAsync(page, "#composer-input");
        await page.Keyboard.TypeAsync("run touch typed-with-keys.txt");
        await page.Keyboard.PressAsync("Enter");
        await page.GetByTestId("approval").WaitForAsync();

        // The approval card's Approve button: reachable by Tab, Enter presses it.
        await TabUntilAsync(page, "[data-testid=approve]");
        await PortalPage.ScreenshotAsync(page, "keyboard-01-approve-focused");
        await page.Keyboard.PressAsync("Enter");

        await Assertions.Expect(page.GetByTestId("tool-state")).ToHaveTextAsync("done");
        Assert.Single(Directory.EnumerateFiles(Path.Combine(server.Folder, "workspaces"), "typed-with-keys.txt", SearchOption.AllDirectories));
        // The focused control is visibly marked (a focus ring), or a keyboard user cannot tell where they are.
        await TabUntilAsync(page, "#composer-input");
        var outline = await page.EvaluateAsync<string>("() => getComputedStyle(document.activeElement).outlineStyle + ' ' + getComputedStyle(document.activeElement).boxShadow");
        Assert.False(outline == "none none", "The focused composer shows no focus indicator.");
        await PortalPage.ScreenshotAsync(page, "keyboard-02-done");
    }

    /// <summary>Presses Tab (at most 60 times) until the element matching <paramref name="selector"/> has focus.</summary>
    private static async Task TabUntilAsync(IPage page, string selector)
    {
        for (var i = 0; i < 60; i++)
        {
            if (await page.EvaluateAsync<bool>("s => document.activeElement?.matches(s) ?? false", selector))
            {
                return;
            }
            await page.Keyboard.PressAsync("Tab");
        }
        Assert.Fail($"Tab never reached {selector}.");
    }
}
