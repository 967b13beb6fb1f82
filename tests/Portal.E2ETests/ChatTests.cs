using Microsoft.Playwright;
using Portal.Testing;

namespace Portal.E2ETests;

public sealed class ChatTests(BrowserFixture browser)
{
    private static Dictionary<string, string?> SlowStream => new() { ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.040" };

    [Fact]
    public async Task Chat_SendAMessage_TheReplyStreamsInAndSurvivesARefresh()
    {
        await using var server = await PortalTestServer.StartAsync(SlowStream);
        await server.CreateUserAsync("alice@portal.test");
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await PortalPage.ScreenshotAsync(page, "01-chat-empty");

        await PortalPage.SendAsync(page, "Hello Portal, what can you do?");

        var reply = page.Locator("[data-testid=message-assistant]");
        await reply.And(page.Locator("[aria-busy=true]")).WaitForAsync();
        var partial = await reply.InnerTextAsync();
        await PortalPage.ScreenshotAsync(page, "02-chat-streaming");
        await reply.And(page.Locator("[aria-busy=false]")).WaitForAsync();
        var complete = await reply.InnerTextAsync();
        await PortalPage.ScreenshotAsync(page, "03-chat-reply");

        Assert.True(partial.Length < complete.Length, $"The reply grew while streaming ({partial.Length} then {complete.Length} characters).");
        Assert.Contains("Offline agent", complete, StringComparison.Ordinal);
        Assert.Contains("Hello Portal, what can you do?", complete, StringComparison.Ordinal);
        Assert.Contains("/c/", page.Url, StringComparison.Ordinal);
        await Assertions.Expect(page.GetByTestId("conversation-list")).ToContainTextAsync("Hello Portal, what can you do?");

        await page.ReloadAsync();
        await PortalPage.WaitForInteractiveAsync(page);
        await Assertions.Expect(page.Locator("[data-testid=message-user]")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("Hello Portal, what can you do\\?"));
        Assert.Equal(complete, await page.Locator("[data-testid=message-assistant]").InnerTextAsync());
        await PortalPage.ScreenshotAsync(page, "04-chat-after-refresh");
    }

    [Fact]
    public async Task Chat_ReplyQuotingScriptAndImageTags_RendersThemAsText()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");

        await PortalPage.SendAsync(page, "<script>window.__xss = 1</script> <img src=x onerror=\"window.__xss = 2\">");
        var reply = page.Locator("[data-testid=message-assistant][aria-busy=false]");
        await reply.WaitForAsync();

        Assert.Contains("<script>window.__xss = 1</script>", await reply.InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await page.Locator(".chat-message-body script, .chat-message-body img").CountAsync());
        Assert.True(await page.EvaluateAsync<bool>("() => window.__xss === undefined"));
    }

    [Fact]
    public async Task Chat_AnotherUsersConversationByUrl_IsNotShown()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        await server.CreateUserAsync("bob@portal.test");
        var alice = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await PortalPage.SendAsync(alice, "alice's private note");
        await alice.Locator("[data-testid=message-assistant][aria-busy=false]").WaitForAsync();
        var url = alice.Url;

        var bob = await PortalPage.SignInAsync(browser.Browser, server, "bob@portal.test");
        await bob.GotoAsync(url);

        await Assertions.Expect(bob.GetByRole(AriaRole.Heading, new() { Name = "Conversation not found" })).ToBeVisibleAsync();
        Assert.DoesNotContain("alice's private note", await bob.ContentAsync(), StringComparison.Ordinal);
        await PortalPage.ScreenshotAsync(bob, "05-other-users-conversation");
    }

    [Fact]
    public async Task Approval_ShownInEveryTab_AnsweredInOne_TheCommandRunsAndBothTabsSeeIt()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        var first = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await PortalPage.SendAsync(first, "run touch approved-in-browser.txt");
        var approval = first.GetByTestId("approval");
        await approval.WaitForAsync();
        await Assertions.Expect(first.GetByTestId("tool-state")).ToHaveTextAsync("waiting for your approval");
        await PortalPage.ScreenshotAsync(first, "06-approval-requested");

        // A second tab (same user) opened on the conversation shows the same pending approval.
        var second = await first.Context.NewPageAsync();
        await second.GotoAsync(first.Url);
        await PortalPage.WaitForInteractiveAsync(second);
        await second.GetByTestId("approval").WaitForAsync();

        await second.GetByTestId("approve").ClickAsync();

        await Assertions.Expect(first.GetByTestId("tool-state")).ToHaveTextAsync("done");
        await Assertions.Expect(second.GetByTestId("tool-state")).ToHaveTextAsync("done");
        Assert.Equal(0, await first.GetByTestId("approval").CountAsync());
        await first.Locator("[data-testid=message-assistant][aria-busy=false]").Nth(1).WaitForAsync();
        Assert.Contains("finished successfully", await first.Locator("[data-testid=message-assistant]").Nth(1).InnerTextAsync(), StringComparison.Ordinal);
        Assert.Single(Directory.EnumerateFiles(Path.Combine(server.Folder, "workspaces"), "approved-in-browser.txt", SearchOption.AllDirectories));
        await PortalPage.ScreenshotAsync(first, "07-approval-done");
    }

    [Fact]
    public async Task Approval_Explain_TheExplanationStreamsIntoTheCard_InEveryTab_AndStaysThereAfterARefresh()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.080" });
        await server.CreateUserAsync("alice@portal.test");
        var first = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await PortalPage.SendAsync(first, "run touch explained.txt");
        await first.GetByTestId("approval").WaitForAsync();
        var second = await first.Context.NewPageAsync();
        await second.GotoAsync(first.Url);
        await PortalPage.WaitForInteractiveAsync(second);
        await second.GetByTestId("approval").WaitForAsync();

        await first.GetByTestId("explain").ClickAsync();

        var why = first.GetByTestId("tool-call").GetByTestId("tool-explanation");
        await Assertions.Expect(why).ToHaveAttributeAsync("aria-busy", "true");
        await Assertions.Expect(first.GetByTestId("tool-state")).ToHaveTextAsync("explaining");
        await Assertions.Expect(why).ToContainTextAsync("This runs");
        await PortalPage.ScreenshotAsync(first, "08-explanation-streaming");
        await Assertions.Expect(why).ToHaveAttributeAsync("aria-busy", "false");
        await Assertions.Expect(first.GetByTestId("approval")).ToBeVisibleAsync(); // asked again, below the explanation
        await Assertions.Expect(why.Locator(".chat-tool-why-head")).ToContainTextAsync("Why this call");
        await Assertions.Expect(why.Locator("code").First).ToHaveTextAsync("touch explained.txt"); // Markdown, as in replies
        var explanation = await why.Locator(".chat-tool-why-body").InnerTextAsync();
        Assert.Contains("It may change files", explanation, StringComparison.Ordinal);
        Assert.Equal(0, await first.Locator("[data-testid=message-assistant]", new() { HasText = "This runs" }).CountAsync());

        // The other tab shows the same explanation in the same card, and no message of its own.
        var whyElsewhere = second.GetByTestId("tool-call").GetByTestId("tool-explanation");
        await Assertions.Expect(whyElsewhere).ToHaveAttributeAsync("aria-busy", "false");
        Assert.Equal(explanation, await whyElsewhere.Locator(".chat-tool-why-body").InnerTextAsync());
        Assert.Equal(0, await second.Locator("[data-testid=message-assistant]", new() { HasText = "This runs" }).CountAsync());

        // After a refresh it is rebuilt from the log, in the card.
        await first.ReloadAsync();
        await PortalPage.WaitForInteractiveAsync(first);
        await Assertions.Expect(why).ToHaveCountAsync(1);
        Assert.Equal(explanation, await why.Locator(".chat-tool-why-body").InnerTextAsync());
        Assert.Equal(0, await first.Locator("[data-testid=message-assistant]", new() { HasText = "This runs" }).CountAsync());
        await PortalPage.ScreenshotAsync(first, "08-explanation-light");
        await first.SetViewportSizeAsync(380, 800);
        await why.ScrollIntoViewIfNeededAsync();
        // The card's hidden labels stay inside the scrolling conversation: the page itself does not scroll on a phone.
        Assert.Equal(800, await first.EvaluateAsync<int>("() => document.documentElement.scrollHeight"));
        // Nor sideways: the conversation's long title, the approvals badge and the card all fit in 380 px.
        Assert.Equal(380, await first.EvaluateAsync<int>("() => document.documentElement.scrollWidth"));
        await PortalPage.ScreenshotAsync(first, "08-explanation-light-phone");
        await first.GetByTestId("theme-toggle").ClickAsync();
        await Assertions.Expect(first.Locator("html")).ToHaveAttributeAsync("data-theme", "dark");
        await PortalPage.ScreenshotAsync(first, "08-explanation-dark-phone");
        await first.SetViewportSizeAsync(1280, 800);
        await PortalPage.ScreenshotAsync(first, "08-explanation-dark");

        await first.GetByTestId("approve").ClickAsync();

        await Assertions.Expect(first.GetByTestId("tool-state")).ToHaveTextAsync("done");
        await Assertions.Expect(why).ToHaveCountAsync(1);
        Assert.Single(Directory.EnumerateFiles(Path.Combine(server.Folder, "workspaces"), "explained.txt", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Approval_DenyAndStop_EndsTheTurnVisibly_WithoutRunningTheCommand()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await PortalPage.SendAsync(page, "run touch never.txt");
        await page.GetByTestId("approval").WaitForAsync();

        await page.GetByTestId("deny-stop").ClickAsync();

        await Assertions.Expect(page.GetByTestId("tool-state")).ToHaveTextAsync("denied");
        await Assertions.Expect(page.GetByTestId("send")).ToBeVisibleAsync();
        Assert.Empty(Directory.EnumerateFiles(server.Folder, "never.txt", SearchOption.AllDirectories));
    }
}
