using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Portal.Agents.Runtime;
using Portal.Sessions;
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
        await Assertions.Expect(list.Locator("li.chat-list-item")).ToHaveCountAsync(2);

        await page.GetByTestId("conversation-search").FillAsync("bik");
        await Assertions.Expect(list.Locator("li.chat-list-item")).ToHaveCountAsync(1);
        await Assertions.Expect(list).ToContainTextAsync("beta: fix the bike");
        await page.GetByTestId("conversation-search").FillAsync("no such thing");
        await Assertions.Expect(page.Locator(".chat-list-empty")).ToContainTextAsync("No conversation matches");
        await page.GetByTestId("conversation-search").FillAsync("");
        await Assertions.Expect(list.Locator("li.chat-list-item")).ToHaveCountAsync(2);

        var beta = list.Locator("li", new() { HasText = "beta" });
        await beta.GetByTestId("rename").ClickAsync();
        await page.GetByTestId("rename-input").FillAsync("Bike repairs");
        await page.GetByTestId("rename-input").PressAsync("Enter");
        await Assertions.Expect(list).ToContainTextAsync("Bike repairs");
        await Assertions.Expect(page.Locator(".chat-title")).ToHaveTextAsync("Bike repairs");
        await PortalPage.ScreenshotAsync(page, "10-conversation-renamed");
        // The search reads the messages too, not only titles.
        await page.GetByTestId("conversation-search").FillAsync("fix the");
        await Assertions.Expect(list.Locator("li.chat-list-item")).ToHaveCountAsync(1);
        await Assertions.Expect(list).ToContainTextAsync("Bike repairs");
        await page.GetByTestId("conversation-search").FillAsync("");
        await Assertions.Expect(list.Locator("li.chat-list-item")).ToHaveCountAsync(2);

        // Deleting the conversation that is open goes back to a new one.
        await list.Locator("li", new() { HasText = "Bike repairs" }).GetByTestId("delete").ClickAsync();
        await PortalPage.ScreenshotAsync(page, "11-conversation-delete-confirm");
        await page.GetByTestId("delete-confirm").ClickAsync();
        await page.WaitForURLAsync(server.BaseAddress.ToString());
        await Assertions.Expect(list.Locator("li.chat-list-item")).ToHaveCountAsync(1);
        await Assertions.Expect(list).Not.ToContainTextAsync("Bike repairs");
        await page.ReloadAsync();
        await PortalPage.WaitForInteractiveAsync(page);
        await Assertions.Expect(page.GetByTestId("conversation-list").Locator("li.chat-list-item")).ToHaveCountAsync(1);
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
    public async Task Theme_FollowsTheSystemsDarkSetting_UntilAChoiceIsMade()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        // A system set to dark: Chromium's own setting, not Playwright's emulation (which Chromium 156 does not apply to
        // the client hint of a navigation that follows a redirect).
        await using var darkSystem = await browser.LaunchAsync("--force-dark-mode");
        var page = await PortalPage.SignInAsync(darkSystem, server, "alice@portal.test", colorScheme: ColorScheme.Null);

        // The page came dark from the server: nothing in the page's scripts sets the html element's attribute but the
        // toggle, so Chromium told Portal the system's setting with the page's request.
        await Assertions.Expect(page.Locator("html")).ToHaveAttributeAsync("data-theme", "dark");
        await Assertions.Expect(page.GetByTestId("theme-toggle")).ToHaveAttributeAsync("aria-label", "Use the light theme");
        await PortalPage.ScreenshotAsync(page, "17-chat-system-dark");

        // A choice made with the toggle beats the system's setting, after a reload too.
        await page.GetByTestId("theme-toggle").ClickAsync();
        await Assertions.Expect(page.Locator("html")).ToHaveAttributeAsync("data-theme", "light");
        await page.ReloadAsync();
        await PortalPage.WaitForInteractiveAsync(page);
        await Assertions.Expect(page.Locator("html")).ToHaveAttributeAsync("data-theme", "light");
        await Assertions.Expect(page.GetByTestId("theme-toggle")).ToHaveAttributeAsync("aria-label", "Use the dark theme");
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

    [Fact]
    public async Task Phone_AnAdminsTopBarWithTheApprovalsBadge_AndALongConversationTitle_FitTheScreen()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("root@portal.test", admin: true);
        var page = await PortalPage.SignInAsync(browser.Browser, server, "root@portal.test");
        await page.SetViewportSizeAsync(360, 800);
        await PortalPage.SendAsync(page, "run touch a-file-whose-name-is-long-enough-to-be-wider-than-the-conversation-list.txt");
        await page.GetByTestId("approval").WaitForAsync();
        await Assertions.Expect(page.GetByTestId("approvals-badge")).ToBeVisibleAsync();

        // Nothing is wider than the screen: the title is cut with an ellipsis, the top bar's controls fit, the page
        // does not scroll sideways.
        Assert.Equal(360, await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth"));
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeVisibleAsync();
        await PortalPage.ScreenshotAsync(page, "16-chat-phone-admin-approval");
    }
}

/// <summary>The chat page with a real (fake, on loopback) OpenAI-compatible provider behind it, and long conversations.</summary>
public sealed class ChatErrorsTests(BrowserFixture browser)
{
    [Fact]
    public async Task RateLimited_TheErrorSaysWhatToDo_AndSendAgainGetsTheAnswer()
    {
        await using var model = await Portal.Testing.Fakes.FakeOpenAiServer.StartAsync();
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["Portal:Agents:Provider"] = "openai",
            ["Portal:Agents:Model"] = "gpt-test",
            ["Portal:Agents:BaseUrl"] = new Uri(model.BaseAddress, "/v1").ToString(),
            ["Portal:Agents:Keys:OpenAI"] = "sk-test-key-0123456789",
            ["Portal:Agents:MaxRetries"] = "0",
        });
        await server.CreateUserAsync("alice@portal.test");
        model.Enqueue(Portal.Testing.Fakes.ModelScript.Failure(429, "Rate limit reached for gpt-test.", retryAfterSeconds: 1),
            Portal.Testing.Fakes.ModelScript.Text("Here", " it is."));
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");

        await PortalPage.SendAsync(page, "a question at a busy time");

        var error = page.GetByTestId("chat-error");
        await Assertions.Expect(error).ToContainTextAsync("Wait a minute, then send again.");
        await PortalPage.ScreenshotAsync(page, "16-chat-rate-limited");
        await error.GetByTestId("send-again").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=message-assistant][aria-busy=false]").Last).ToContainTextAsync("Here it is.");
        await Assertions.Expect(page.GetByTestId("chat-error")).ToHaveCountAsync(0);
        Assert.Equal(2, await page.Locator("[data-testid=message-user]").CountAsync());
    }

    [Fact]
    public async Task LongConversation_ShowsTheLatestMessages_AndPagesInEarlierOnes()
    {
        await using var server = await PortalTestServer.StartAsync();
        var alice = await server.CreateUserAsync("alice@portal.test");
        var bus = server.Services.GetRequiredService<ISessionBus>();
        var session = await bus.CreateSessionAsync(new NewSession(SessionKinds.Chat, alice, Title: "A long one", Status: SessionStatuses.Idle), CancellationToken.None);
        for (var i = 1; i <= 130; i++)
        {
            await bus.AppendAsync(session.Id, AgentJson.Event(EventDirections.In, EventTypes.UserInput, EventActors.User, UserInputPayload.FromText($"message number {i}")),
                CancellationToken.None);
        }
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");

        await page.GotoAsync($"/c/{session.Id}");
        await PortalPage.WaitForInteractiveAsync(page);

        var messages = page.Locator("[data-testid=message-user]");
        await Assertions.Expect(messages).ToHaveCountAsync(60);
        await Assertions.Expect(messages.Last).ToContainTextAsync("message number 130");
        await Assertions.Expect(page.GetByTestId("show-earlier")).ToContainTextAsync("70 more");
        await page.GetByTestId("show-earlier").ClickAsync();
        await page.GetByTestId("show-earlier").ClickAsync();
        await Assertions.Expect(messages).ToHaveCountAsync(130);
        await Assertions.Expect(messages.First).ToContainTextAsync("message number 1");
        await Assertions.Expect(page.GetByTestId("show-earlier")).ToHaveCountAsync(0);
    }
}

/// <summary>A reply in flight: stopped by the person, or followed across a reload.</summary>
public sealed class ChatStreamingTests(BrowserFixture browser)
{
    private static Dictionary<string, string?> SlowStream => new() { ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.080" };

    [Fact]
    public async Task Stop_MidReply_KeepsWhatArrived_MarksItStopped_AndFreesTheComposer()
    {
        await using var server = await PortalTestServer.StartAsync(SlowStream);
        await server.CreateUserAsync("alice@portal.test");
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await PortalPage.SendAsync(page, "tell me a long story about the sea and the ships upon it");
        var reply = page.Locator("[data-testid=message-assistant]");
        await Assertions.Expect(reply).ToContainTextAsync("You wrote");

        await page.GetByTestId("stop").ClickAsync();

        await Assertions.Expect(reply).ToHaveAttributeAsync("aria-busy", "false");
        await Assertions.Expect(reply.Locator(".chat-message-ended")).ToContainTextAsync("Stopped.");
        var kept = await reply.Locator(".chat-message-body").InnerTextAsync();
        Assert.Contains("You wrote", kept, StringComparison.Ordinal);
        Assert.DoesNotContain("restart Portal.", kept, StringComparison.Ordinal); // the end of the offline reply never came
        await Assertions.Expect(page.GetByTestId("send")).ToBeVisibleAsync();
        await PortalPage.ScreenshotAsync(page, "17-chat-stopped");
        await Task.Delay(500, TestContext.Current.CancellationToken);
        Assert.Equal(kept, await reply.Locator(".chat-message-body").InnerTextAsync()); // nothing more streams in after the stop
    }

    [Fact]
    public async Task Reload_MidReply_TheReplyKeepsStreaming_WithNothingLostOrDoubled()
    {
        await using var server = await PortalTestServer.StartAsync(SlowStream);
        await server.CreateUserAsync("alice@portal.test");
        var page = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await PortalPage.SendAsync(page, "one two three four five six seven eight nine ten");
        var reply = page.Locator("[data-testid=message-assistant]");
        await Assertions.Expect(reply).ToContainTextAsync("You wrote");

        await page.ReloadAsync();
        await PortalPage.WaitForInteractiveAsync(page);
        await Assertions.Expect(reply).ToHaveAttributeAsync("aria-busy", "true");
        await Assertions.Expect(reply).ToHaveAttributeAsync("aria-busy", "false", new() { Timeout = 30_000 });
        var afterReload = await reply.InnerTextAsync();

        // A fresh tab, reading the finished conversation from the log, shows exactly the same reply.
        var fresh = await page.Context.NewPageAsync();
        await fresh.GotoAsync(page.Url);
        await PortalPage.WaitForInteractiveAsync(fresh);
        Assert.Equal(afterReload, await fresh.Locator("[data-testid=message-assistant]").InnerTextAsync());
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(afterReload, "You wrote 10 words"));
        Assert.EndsWith("restart Portal.", afterReload.TrimEnd(), StringComparison.Ordinal);
    }
}
