using Microsoft.Playwright;
using Portal.Testing;

namespace Portal.E2ETests;

/// <summary>The chat page's helpers around the conversation: the list, the approvals badge, the theme, code copying.</summary>
public sealed class ChatToolsTests(BrowserFixture browser)
{
    [Fact]
    public async Task ConversationList_SearchRenameDelete_AsAPersonWould()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await PortalPage.SendAsync(page, "alpha: plan the garden");
        await page.Locator("[data-testid=message-assistant][aria-busy=false]").WaitForAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "New conversation" }).ClickAsync();
        await PortalPage.WaitForInteractiveAsync(page);
        await PortalPage.SendAsync(page, "beta: fix the bike");
        await page.Locator("[data-testid=message-assistant][aria-busy=false]").WaitForAsync();
        var list = page.GetByTestId("conversation-list");
        await Assertions.Expect(list.Locator("li")).ToHaveCountAsync(2);

        await page.GetByTestId("conversation-search").FillAsync("bike");
        await Assertions.Expect(list.Locator("li")).ToHaveCountAsync(1);
        await Assertions.Expect(list).ToContainTextAsync("beta: fix the bike");
        await page.GetByTestId("conversation-search").FillAsync("no such thing");
        await Assertions.Expect(page.Locator(".chat-list-empty")).ToContainTextAsync("No conversation matches");
        await page.GetByTestId("conversation-search").FillAsync("");
        await Assertions.Expect(list.Locator("li")).ToHaveCountAsync(2);

        var beta = list.Locator("li", new() { HasText = "beta" });
        await beta.GetByTestId("rename").ClickAsync();
        await page.GetByTestId("rename-input").FillAsync("Bike repairs");
        await page.GetByTestId("rename-input").PressAsync("Enter");
        await Assertions.Expect(list).ToContainTextAsync("Bike repairs");
        await Assertions.Expect(page.Locator(".chat-title")).ToHaveTextAsync("Bike repairs");
        await PortalPage.ScreenshotAsync(page, "10-conversation-renamed");

        // Deleting the conversation that is open goes back to a new one.
        await list.Locator("li", new() { HasText = "Bike repairs" }).GetByTestId("delete").ClickAsync();
        await PortalPage.ScreenshotAsync(page, "11-conversation-delete-confirm");
        await page.GetByTestId("delete-confirm").ClickAsync();
        await page.WaitForURLAsync(server.BaseAddress.ToString());
        await Assertions.Expect(list.Locator("li")).ToHaveCountAsync(1);
        await Assertions.Expect(list).Not.ToContainTextAsync("Bike repairs");
        await page.ReloadAsync();
        await PortalPage.WaitForInteractiveAsync(page);
        await Assertions.Expect(page.GetByTestId("conversation-list").Locator("li")).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task ApprovalsBadge_ShowsAToolCallWaitingElsewhere_AndGoesAwayOnceAnswered()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await PortalPage.SendAsync(page, "run touch from-the-badge.txt");
        await page.GetByTestId("approval").WaitForAsync();
        var conversation = page.Url;

        // Elsewhere (a new conversation), the top bar says something waits, and leads back to it.
        await page.GetByRole(AriaRole.Link, new() { Name = "New conversation" }).ClickAsync();
        await PortalPage.WaitForInteractiveAsync(page);
        await Assertions.Expect(page.GetByTestId("approvals-count")).ToHaveTextAsync("1");
        await page.GetByTestId("approvals-badge").Locator("summary").ClickAsync();
        await PortalPage.ScreenshotAsync(page, "12-approvals-badge");
        await page.GetByTestId("approvals-badge").GetByRole(AriaRole.Link, new() { Name = "run touch from-the-badge.txt" }).ClickAsync();
        await page.WaitForURLAsync(conversation);
        await PortalPage.WaitForInteractiveAsync(page);

        await page.GetByTestId("approve").ClickAsync();

        await Assertions.Expect(page.GetByTestId("tool-state")).ToHaveTextAsync("done");
        await Assertions.Expect(page.GetByTestId("approvals-badge")).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByTestId("tool-decision")).ToContainTextAsync("Approved once by alice@portal.test at");
    }

    [Fact]
    public async Task DenyWithAMessage_TheCardSaysWhoDeniedAndWhy_AndTheAgentGoesOn()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await PortalPage.SendAsync(page, "run touch not-this-one.txt");
        await page.GetByTestId("approval").WaitForAsync();
        await Assertions.Expect(page.GetByTestId("tool-workdir")).ToHaveTextAsync("In the working folder");

        await page.GetByTestId("deny-message").FillAsync("use the scratch folder instead");
        await page.GetByTestId("deny-continue").ClickAsync();

        await Assertions.Expect(page.GetByTestId("tool-decision"))
            .ToContainTextAsync("Denied by alice@portal.test at");
        await Assertions.Expect(page.GetByTestId("tool-decision")).ToContainTextAsync("; the agent went on");
        await Assertions.Expect(page.GetByTestId("tool-decision")).ToContainTextAsync("\u201cuse the scratch folder instead\u201d");
        await Assertions.Expect(page.GetByTestId("send")).ToBeVisibleAsync();
        Assert.Empty(Directory.EnumerateFiles(server.Folder, "not-this-one.txt", SearchOption.AllDirectories));
        await PortalPage.ScreenshotAsync(page, "13-denied-with-message");
    }

    [Fact]
    public async Task ThemeToggle_SwitchesToDark_AndTheChoiceSurvivesAReload()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        var background = "() => getComputedStyle(document.querySelector('.chat-sidebar')).backgroundColor";
        var light = await page.EvaluateAsync<string>(background);

        await page.GetByTestId("theme-toggle").ClickAsync();
        await Assertions.Expect(page.Locator("html")).ToHaveAttributeAsync("data-theme", "dark");
        await page.ReloadAsync();
        await PortalPage.WaitForInteractiveAsync(page);

        await Assertions.Expect(page.Locator("html")).ToHaveAttributeAsync("data-theme", "dark");
        await Assertions.Expect(page.GetByTestId("theme-toggle")).ToHaveAttributeAsync("aria-label", "Use the light theme");
        Assert.NotEqual(light, await page.EvaluateAsync<string>(background));
        await PortalPage.SendAsync(page, "Show me:\n```\nls -la\n```");
        await page.Locator("[data-testid=message-assistant][aria-busy=false]").WaitForAsync();
        await PortalPage.ScreenshotAsync(page, "14-chat-dark");
    }

    [Fact]
    public async Task CodeBlock_CopyButton_PutsTheCodeOnTheClipboard()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await page.Context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"]);
        await PortalPage.SendAsync(page, "Keep this:\n```\necho copied-from-portal\n```");
        var reply = page.Locator("[data-testid=message-assistant][aria-busy=false]");
        await reply.WaitForAsync();

        var copy = reply.Locator(".chat-code button[data-copy-code]");
        await copy.ClickAsync();

        await Assertions.Expect(copy).ToHaveTextAsync("Copied");
        Assert.Contains("echo copied-from-portal", await page.EvaluateAsync<string>("() => navigator.clipboard.readText()"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OfflineOnly_ShowsTheFirstRunBanner_NamingTheKeysToSet()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");

        await Assertions.Expect(page.GetByTestId("first-run-banner")).ToContainTextAsync("OPENAI_API_KEY");
        await page.SetViewportSizeAsync(390, 844);
        await PortalPage.ScreenshotAsync(page, "15-chat-phone");
    }
}
