using System.Net.WebSockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Portal.Agents.Runtime;
using Portal.Sessions;
using Portal.Testing;
using Portal.Testing.Fakes;

namespace Portal.E2ETests;

/// <summary>An admin reviewing sessions in Chromium: the grid, a session's detail, export, delete, the status page.</summary>
public sealed partial class AdminTests(BrowserFixture browser)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SessionsGrid_FilterByKindAndText_SortAndTheUrlSurvivesARefresh()
    {
        await using var server = await PortalTestServer.StartAsync();
        var seeded = await SeedAsync(server);
        var page = await PortalPage.SignInAsync(browser.Browser, server, PortalTestServer.AdminEmail);

        await page.GetByRole(AriaRole.Link, new() { Name = "Sessions" }).ClickAsync();
        await page.WaitForURLAsync("**/admin/sessions");
        await Assertions.Expect(Rows(page)).ToHaveCountAsync(4);
        await ScreenshotAsync(page, "admin-01-sessions");

        await page.GetByTestId("filter-kind").SelectOptionAsync("ces-proxy");
        await Assertions.Expect(Rows(page)).ToHaveCountAsync(1);
        await Assertions.Expect(Rows(page)).ToContainTextAsync("Widget session");
        Assert.Contains("kind=ces-proxy", page.Url, StringComparison.Ordinal);

        await page.GetByTestId("filter-kind").SelectOptionAsync("");
        await page.GetByTestId("filter-text").FillAsync("giraffe");
        await page.GetByTestId("filter-text").PressAsync("Enter");
        await Assertions.Expect(Rows(page)).ToHaveCountAsync(1);
        await Assertions.Expect(Rows(page)).ToContainTextAsync("Quarterly report");
        await page.WaitForURLAsync(new Regex("q=giraffe"));
        await ScreenshotAsync(page, "admin-02-sessions-search");

        // The same view after a refresh: the filter came from the URL.
        await page.ReloadAsync();
        await Assertions.Expect(Rows(page)).ToHaveCountAsync(1);
        await Assertions.Expect(page.GetByTestId("filter-text")).ToHaveValueAsync("giraffe");
        await Assertions.Expect(Rows(page)).ToContainTextAsync("Quarterly report");

        // A word found in no title and no message: the empty state, with a way back.
        await page.GetByTestId("filter-text").FillAsync("okapi");
        await page.GetByTestId("filter-text").PressAsync("Enter");
        await Assertions.Expect(page.GetByTestId("sessions-empty")).ToContainTextAsync("No sessions match these filters.");
        await ScreenshotAsync(page, "admin-03-sessions-empty");
        await page.GetByTestId("sessions-empty").GetByRole(AriaRole.Button, new() { Name = "Clear the filters" }).ClickAsync();
        await Assertions.Expect(Rows(page)).ToHaveCountAsync(4);

        // Sorting by events, fewest first, then most first; the order is in the URL too.
        await page.GetByRole(AriaRole.Columnheader, new() { Name = "Events" }).ClickAsync();
        await page.WaitForURLAsync(new Regex("sort=events&dir=asc"));
        await Assertions.Expect(Rows(page).First).ToContainTextAsync(seeded.FewestEventsTitle);
        await page.GetByRole(AriaRole.Columnheader, new() { Name = "Events" }).ClickAsync();
        await page.WaitForURLAsync(new Regex("sort=events&dir=desc"));
        await Assertions.Expect(Rows(page).First).ToContainTextAsync(seeded.MostEventsTitle);
        var counts = await EventCountsAsync(page);
        Assert.Equal(counts.OrderByDescending(c => c), counts);
        await ScreenshotAsync(page, "admin-04-sessions-sorted");
    }

    [Fact]
    public async Task SessionsGrid_SecondPage_IsInTheUrlAndSurvivesARefresh()
    {
        await using var server = await PortalTestServer.StartAsync();
        var bus = server.Services.GetRequiredService<ISessionBus>();
        for (var i = 1; i <= 30; i++)
        {
            await bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, null, $"Session number {i:D2}", "offline", Status: SessionStatuses.Idle), Ct);
            await Task.Delay(2, Ct); // distinct activity times, so the order is the creation order
        }
        var page = await PortalPage.SignInAsync(browser.Browser, server, PortalTestServer.AdminEmail);
        await page.GotoAsync("/admin/sessions");
        await Assertions.Expect(Rows(page)).ToHaveCountAsync(25);
        await Assertions.Expect(Rows(page).First).ToHaveTextAsync("Session number 30");

        await page.GetByRole(AriaRole.Button, new() { Name = "Go to page 2." }).Or(page.Locator(".rz-pager-next, .rz-paginator-next")).First.ClickAsync();
        await page.WaitForURLAsync(new Regex("page=2"));
        await Assertions.Expect(Rows(page)).ToHaveCountAsync(5);
        await Assertions.Expect(Rows(page).First).ToHaveTextAsync("Session number 05");

        await page.ReloadAsync();
        await Assertions.Expect(Rows(page)).ToHaveCountAsync(5);
        await Assertions.Expect(Rows(page).First).ToHaveTextAsync("Session number 05");
        await Assertions.Expect(page.GetByTestId("sessions-grid")).ToContainTextAsync("Page 2 of 2 (30 sessions)");
        Assert.Contains("page=2", page.Url, StringComparison.Ordinal);
        await ScreenshotAsync(page, "admin-04b-sessions-page-2");
    }

    [Fact]
    public async Task SessionDetail_ReviewAChatWithAnApproval_TimelineJsonPanelsExportAndDelete()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        var alice = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        await PortalPage.SendAsync(alice, "run touch reviewed.txt");
        await alice.GetByTestId("approve").ClickAsync();
        await Assertions.Expect(alice.GetByTestId("tool-state")).ToHaveTextAsync("done");
        await alice.Locator("[data-testid=message-assistant][aria-busy=false]").Nth(1).WaitForAsync();
        var sessionId = alice.Url[(alice.Url.LastIndexOf('/') + 1)..];
        await server.Services.GetRequiredService<ISessionBus>().WaitUntilDurableAsync(sessionId, Ct);
        // A user's top bar links to the chat only, and marks it current on a conversation's page.
        var aliceNav = alice.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).GetByRole(AriaRole.Link);
        await Assertions.Expect(aliceNav).ToHaveTextAsync(["Chat"]);
        await Assertions.Expect(aliceNav).ToHaveAttributeAsync("aria-current", "page");

        var page = await PortalPage.SignInAsync(browser.Browser, server, PortalTestServer.AdminEmail);
        await page.GotoAsync("/admin/sessions");
        await page.GetByTestId("session-link").Filter(new() { HasText = "run touch reviewed.txt" }).ClickAsync();
        await page.WaitForURLAsync($"**/admin/sessions/{sessionId}");

        await Assertions.Expect(page.GetByTestId("session-title")).ToHaveTextAsync("run touch reviewed.txt");
        // An admin's top bar has Sessions and Status too; a session's page is under Sessions.
        var nav = page.GetByRole(AriaRole.Navigation, new() { Name = "Main" });
        await Assertions.Expect(nav.GetByRole(AriaRole.Link)).ToHaveTextAsync(["Chat", "Sessions", "Status"]);
        await Assertions.Expect(nav.Locator("[aria-current=page]")).ToHaveTextAsync(["Sessions"]);
        await Assertions.Expect(page.GetByTestId("session-facts")).ToContainTextAsync("alice@portal.test");
        var approval = page.GetByTestId("approval-row");
        await Assertions.Expect(approval).ToHaveCountAsync(1);
        await Assertions.Expect(approval).ToContainTextAsync("touch reviewed.txt");
        await Assertions.Expect(approval.GetByTestId("approval-decision")).ToHaveTextAsync("yes");
        await Assertions.Expect(approval).ToContainTextAsync("alice@portal.test");
        await Assertions.Expect(approval.GetByTestId("approval-latency")).ToHaveTextAsync(new Regex(@"^\d+(\.\d)? (ms|s)$"));
        await Assertions.Expect(page.GetByTestId("tool-call")).ToHaveCountAsync(1);
        await Assertions.Expect(page.GetByTestId("usage-row")).ToHaveCountAsync(1);

        // The timeline: newest first, every event of the session, each with its JSON.
        var rows = page.GetByTestId("timeline-row");
        var total = await rows.CountAsync();
        Assert.True(total > 10, $"{total} timeline rows");
        Assert.Equal(total.ToString(System.Globalization.CultureInfo.InvariantCulture), await page.GetByTestId("fact-events").InnerTextAsync());
        Assert.Equal(total, int.Parse(await rows.First.GetAttributeAsync("data-seq") ?? "0", System.Globalization.CultureInfo.InvariantCulture));
        var input = page.Locator("[data-testid=timeline-row][data-type=user_input]").Last;
        // Each row says what it holds without opening it: the words typed, the command asked for and who allowed it.
        await Assertions.Expect(input.GetByTestId("timeline-summary")).ToHaveTextAsync("run touch reviewed.txt");
        await Assertions.Expect(page.Locator("[data-testid=timeline-row][data-type=approval_request] [data-testid=timeline-summary]")).ToContainTextAsync("touch reviewed.txt");
        await Assertions.Expect(page.Locator("[data-testid=timeline-row][data-type=approval_decision] [data-testid=timeline-summary]")).ToContainTextAsync("by alice@portal.test");
        await input.GetByTestId("timeline-json-toggle").ClickAsync();
        var json = page.GetByTestId("json-viewer");
        await Assertions.Expect(json).ToContainTextAsync("\"text\": \"run touch reviewed.txt\"");
        await Assertions.Expect(json.Locator(".json-key").First).ToBeVisibleAsync();
        await ScreenshotAsync(page, "admin-05-session-detail");

        await page.GetByTestId("timeline-type").SelectOptionAsync("approval_request");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(rows).ToHaveAttributeAsync("data-type", "approval_request");
        await page.GetByTestId("timeline-type").SelectOptionAsync("");
        await Assertions.Expect(rows).ToHaveCountAsync(total);

        // Export: a JSONL file with one line per event, in the seed's log format.
        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("export").ClickAsync());
        Assert.Equal($"{sessionId}.jsonl", download.SuggestedFilename);
        var lines = (await File.ReadAllLinesAsync(await download.PathAsync(), Ct)).Where(l => l.Length > 0).ToList();
        Assert.Equal(total, lines.Count);
        using (var first = JsonDocument.Parse(lines[0]))
        {
            Assert.Equal("session_started", first.RootElement.GetProperty("message_data").GetProperty("event").GetString());
        }
        Assert.Contains(lines, l => l.Contains("\"type\":\"approval_request\"", StringComparison.Ordinal));

        // Delete, after confirming.
        await page.GetByTestId("delete").ClickAsync();
        var dialog = Dialog(page);
        await Assertions.Expect(dialog).ToContainTextAsync("This cannot be undone.");
        await ScreenshotAsync(page, "admin-06-delete-confirm");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();
        await Assertions.Expect(dialog).ToHaveCountAsync(0);
        Assert.NotNull(await server.Services.GetRequiredService<ISessionStore>().GetAsync(sessionId, Ct));

        await page.GetByTestId("delete").ClickAsync();
        await Dialog(page).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await page.WaitForURLAsync("**/admin/sessions");
        await Assertions.Expect(page.GetByTestId("sessions-empty")).ToContainTextAsync("No sessions yet.");
        Assert.Null(await server.Services.GetRequiredService<ISessionStore>().GetAsync(sessionId, Ct));
    }

    [Fact]
    public async Task SessionDetail_ActiveSession_NewEventsAppearLiveAndPayloadsStayText()
    {
        await using var server = await PortalTestServer.StartAsync();
        var bus = server.Services.GetRequiredService<ISessionBus>();
        var session = await bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, null, "Live one", "offline"), Ct);
        await bus.AppendAsync(session.Id, Event(EventDirections.Internal, EventTypes.SessionStarted, new { kind = "agent" }), Ct);
        var page = await PortalPage.SignInAsync(browser.Browser, server, PortalTestServer.AdminEmail);
        await page.GotoAsync($"/admin/sessions/{session.Id}");
        await Assertions.Expect(page.GetByTestId("timeline-row")).ToHaveCountAsync(1);
        await Assertions.Expect(page.GetByTestId("live-indicator")).ToBeVisibleAsync();

        await bus.AppendAsync(session.Id, Event(EventDirections.In, EventTypes.UserInput,
            new { text = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>" }), Ct);
        for (var i = 0; i < 30; i++)
        {
            await bus.AppendAsync(session.Id, Event(EventDirections.Out, EventTypes.ResponseDelta, new { runId = "r1", itemId = "m1", delta = $"word{i} " }), Ct);
        }

        await Assertions.Expect(page.GetByTestId("timeline-row")).ToHaveCountAsync(32);
        await Assertions.Expect(page.GetByTestId("fact-events")).ToHaveTextAsync("32");
        var input = page.Locator("[data-testid=timeline-row][data-type=user_input]");
        await input.GetByTestId("timeline-json-toggle").ClickAsync();
        await Assertions.Expect(page.GetByTestId("json-viewer")).ToContainTextAsync("<script>window.__xss=2</script>");
        Assert.Equal(0, await page.Locator("[data-testid=json-viewer] img, [data-testid=json-viewer] script").CountAsync());
        Assert.True(await page.EvaluateAsync<bool>("() => window.__xss === undefined"));
        await ScreenshotAsync(page, "admin-07-session-live");
    }

    [Fact]
    public async Task SessionDetail_LongLog_ShowsOnePageAtATime()
    {
        await using var server = await PortalTestServer.StartAsync();
        var bus = server.Services.GetRequiredService<ISessionBus>();
        var session = await bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, null, "Long one", "offline", Status: SessionStatuses.Ended), Ct);
        for (var i = 1; i <= 3_000; i++)
        {
            await bus.AppendAsync(session.Id, Event(EventDirections.Out, i % 500 == 0 ? AgentEventTypes.AgentFinished : EventTypes.ResponseDelta,
                new { runId = "r", delta = $"w{i}", usage = new { inputTokens = 10, outputTokens = 1 } }), Ct);
        }
        await bus.WaitUntilDurableAsync(session.Id, Ct);
        var page = await PortalPage.SignInAsync(browser.Browser, server, PortalTestServer.AdminEmail);
        await page.GotoAsync($"/admin/sessions/{session.Id}");

        var rows = page.GetByTestId("timeline-row");
        await Assertions.Expect(rows).ToHaveCountAsync(100);
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-seq", "3000");
        await Assertions.Expect(page.GetByTestId("fact-tokens")).ToContainTextAsync("66 (60 in, 6 out, 6 turns)");
        await page.GetByTestId("timeline-older").ClickAsync();
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-seq", "2900");
        await Assertions.Expect(page.GetByTestId("timeline-range")).ToContainTextAsync("Seq 2,801–2,900");
        await page.GetByTestId("timeline-older").ClickAsync();
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-seq", "2800");
        await page.GetByTestId("timeline-newer").ClickAsync();
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-seq", "2900");
        await page.GetByTestId("timeline-type").SelectOptionAsync(AgentEventTypes.AgentFinished);
        await Assertions.Expect(rows).ToHaveCountAsync(6);
        await page.GetByTestId("timeline-type").SelectOptionAsync("");
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-seq", "3000");
        await Assertions.Expect(rows).ToHaveCountAsync(100);
        await ScreenshotAsync(page, "admin-07b-session-long");
    }

    [Fact]
    public async Task SessionDetail_WidgetConnection_ShowsFrameStatisticsAndCloseCodes()
    {
        await using var upstream = await FakeCesUpstream.StartAsync();
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["CesProxy:AppsEndpointTemplate"] = upstream.AppsTemplate,
            ["CesProxy:CredentialsFile"] = "/nonexistent.json",
            ["AUTHORIZED_ORIGINS"] = "https://shop.example.com",
        });
        await using (var widget = await WidgetClient.ConnectAsync(new Uri($"ws://{server.BaseAddress.Authority}/ces"), cancellationToken: Ct))
        {
            await widget.SendConfigAsync(accessToken: "ya29.widget-token-1234567890");
            await widget.SendTextAsync("where is my parcel?");
            for (var i = 0; i < 5; i++)
            {
                await widget.ReceiveAsync();
            }
            for (var i = 0; i < 3; i++)
            {
                await widget.SendAudioChunkAsync();
            }
            await widget.Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", Ct);
        }
        var store = server.Services.GetRequiredService<ISessionStore>();
        var ended = await WaitForAsync(async () => (await store.ListAsync(new SessionQuery { Kind = SessionKinds.CesProxy, Status = SessionStatuses.Ended }, Ct)).Items is [var first, ..] ? first : null);

        var page = await PortalPage.SignInAsync(browser.Browser, server, PortalTestServer.AdminEmail);
        await page.GotoAsync($"/admin/sessions?kind=ces-proxy");
        await page.GetByTestId("session-link").First.ClickAsync();
        await page.WaitForURLAsync($"**/admin/sessions/{ended.Id}");

        var panel = page.GetByTestId("proxy-panel");
        await Assertions.Expect(panel.GetByTestId("frames-audio")).ToContainTextAsync("3");
        await Assertions.Expect(panel.GetByTestId("frames-text").Locator("td").First).Not.ToHaveTextAsync("0");
        await Assertions.Expect(panel.GetByTestId("proxy-close")).ToContainTextAsync("1000 bye");
        await Assertions.Expect(panel.GetByTestId("proxy-close")).ToContainTextAsync("client");
        await Assertions.Expect(page.GetByTestId("live-indicator")).ToHaveCountAsync(0);
        // The conversation can be read down the timeline: the widget's message kinds and their text.
        var summaries = page.GetByTestId("timeline-summary");
        await Assertions.Expect(summaries.Filter(new() { HasText = "realtimeInput: where is my parcel?" })).ToHaveCountAsync(1);
        await Assertions.Expect(summaries.Filter(new() { HasText = "recognitionResult: where is my parcel?" })).ToHaveCountAsync(1);
        await Assertions.Expect(summaries.Filter(new() { HasText = "sessionOutput: Hello from CES" })).ToHaveCountAsync(1);
        await ScreenshotAsync(page, "admin-08-session-widget");
    }

    [Fact]
    public async Task StatusPage_WhileAChatIsOpen_ShowsLiveNonZeroCounts()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.100" });
        await server.CreateUserAsync("alice@portal.test");
        var alice = await PortalPage.SignInAsync(browser.Browser, server, "alice@portal.test");
        var cookies = await server.SignInCookiesAsync("alice@portal.test");
        using var chatSocket = new ClientWebSocket { Options = { Cookies = cookies } };
        await chatSocket.ConnectAsync(new Uri($"ws://{server.BaseAddress.Authority}/ws/chat"), Ct);

        var page = await PortalPage.SignInAsync(browser.Browser, server, PortalTestServer.AdminEmail);
        await page.GetByRole(AriaRole.Link, new() { Name = "Status" }).ClickAsync();
        await page.WaitForURLAsync("**/admin/status");
        await Assertions.Expect(StatValue(page, "connections /ws/chat")).ToHaveTextAsync("1");
        await Assertions.Expect(StatValue(page, "connections /ws/agent")).ToHaveTextAsync("0");
        // Alice's chat tab and this page: two circuits at least.
        await Assertions.Expect(StatValue(page, "connections Blazor circuits")).ToHaveTextAsync(new Regex("^[2-9]$"));

        // While a reply streams in alice's tab, a run is active and events flow.
        await PortalPage.SendAsync(alice, "Tell me a long story about the status page please");
        await Assertions.Expect(StatValue(page, "active runs")).ToHaveTextAsync("1");
        await Assertions.Expect(StatValue(page, "events per second")).Not.ToHaveTextAsync("0");
        await ScreenshotAsync(page, "admin-09-status");

        await chatSocket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", Ct);
        await Assertions.Expect(StatValue(page, "connections /ws/chat")).ToHaveTextAsync("0");
        await alice.Locator("[data-testid=message-assistant][aria-busy=false]").WaitForAsync();
        await Assertions.Expect(StatValue(page, "active runs")).ToHaveTextAsync("0");
    }

    [Fact]
    public async Task AdminPages_AtPhoneWidthAndInADarkTheme_FitAndStayReadable()
    {
        await using var server = await PortalTestServer.StartAsync();
        var seeded = await SeedAsync(server);
        var page = await PortalPage.SignInAsync(browser.Browser, server, PortalTestServer.AdminEmail);
        await page.SetViewportSizeAsync(380, 800);

        foreach (var (path, name) in new[] { ("/admin/sessions", "sessions"), ($"/admin/sessions/{seeded.AgentSessionId}", "session"), ("/admin/status", "status") })
        {
            await page.GotoAsync(path);
            await page.Locator(".admin-page h1").WaitForAsync();
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await ScreenshotAsync(page, $"admin-10-narrow-{name}");
            var overflow = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - document.documentElement.clientWidth");
            Assert.True(overflow <= 1, $"{path} is {overflow}px wider than a 380px screen");
        }

        await page.SetViewportSizeAsync(1280, 800);
        await UseDarkThemeAsync(page);
        foreach (var (path, name) in new[] { ("/admin/sessions", "sessions"), ($"/admin/sessions/{seeded.AgentSessionId}", "session"), ("/admin/status", "status") })
        {
            await page.GotoAsync(path);
            await page.Locator(".admin-page h1").WaitForAsync();
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await Assertions.Expect(page.Locator("html")).ToHaveAttributeAsync("data-theme", "dark");
            await ScreenshotAsync(page, $"admin-11-dark-{name}");
            var panel = page.Locator(".admin-filters, .admin-panel, .admin-stat").First;
            var (background, text) = await ColoursAsync(panel);
            Assert.True(Luminance(background) < 0.2, $"{path}: panel background {background} is not dark");
            Assert.True(Luminance(text) > 0.5, $"{path}: panel text {text} is not light");
        }
    }

    private static ILocator Rows(IPage page) => page.GetByTestId("session-link");

    private static ILocator Dialog(IPage page) => page.Locator("[role=dialog], [role=alertdialog]");

    /// <summary>The whole page: Portal scrolls inside its main element, so the viewport is made as tall as that content first.</summary>
    private static async Task ScreenshotAsync(IPage page, string name)
    {
        var size = page.ViewportSize!;
        var height = await page.EvaluateAsync<int>("() => { const m = document.querySelector('.portal-main'); return Math.ceil(m.scrollHeight + m.getBoundingClientRect().top); }");
        await page.SetViewportSizeAsync(size.Width, Math.Clamp(height, size.Height, 6000));
        await PortalPage.ScreenshotAsync(page, name);
        await page.SetViewportSizeAsync(size.Width, size.Height);
    }

    private static ILocator StatValue(IPage page, string id) => page.GetByTestId("stat-value " + id);

    private static async Task<List<long>> EventCountsAsync(IPage page)
    {
        var cells = await page.Locator("[data-testid=sessions-grid] tbody tr td:nth-child(6)").AllInnerTextsAsync();
        return cells.Select(c => long.Parse(c.Replace(",", "", StringComparison.Ordinal).Trim(), System.Globalization.CultureInfo.InvariantCulture)).ToList();
    }

    /// <summary>As a person does: the top bar's theme toggle, on an admin page; the choice is a cookie every page reads.</summary>
    private static async Task UseDarkThemeAsync(IPage page)
    {
        await page.GotoAsync("/admin/status");
        await page.Locator(".admin-page h1").WaitForAsync();
        // The prerendered button does nothing until the circuit is up (a person's click that early is lost too).
        await page.Locator("[data-testid=theme-toggle][data-interactive=true]").ClickAsync();
        await Assertions.Expect(page.Locator("html")).ToHaveAttributeAsync("data-theme", "dark");
    }

    private static async Task<(string Background, string Text)> ColoursAsync(ILocator element)
    {
        var colours = await element.EvaluateAsync<string[]>("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]");
        return (colours[0], colours[1]);
    }

    /// <summary>Relative luminance (0 black, 1 white) of a computed CSS colour such as <c>rgb(30, 30, 30)</c>.</summary>
    private static double Luminance(string colour)
    {
        var parts = RgbParts().Matches(colour).Take(3).Select(m => double.Parse(m.Value, System.Globalization.CultureInfo.InvariantCulture) / 255).ToArray();
        static double Linear(double c) => c <= 0.03928 ? c / 12.92 : Math.Pow((c + 0.055) / 1.055, 2.4);
        return 0.2126 * Linear(parts[0]) + 0.7152 * Linear(parts[1]) + 0.0722 * Linear(parts[2]);
    }

    [GeneratedRegex(@"[\d.]+")]
    private static partial Regex RgbParts();

    private sealed record Seeded(string AgentSessionId, string FewestEventsTitle, string MostEventsTitle);

    /// <summary>
    /// Four sessions of four kinds, made through the session bus as Portal's entry points make them: an agent session
    /// whose messages mention a giraffe, a widget connection, a chat-ws exchange, and a chat.
    /// </summary>
    private static async Task<Seeded> SeedAsync(PortalTestServer server)
    {
        var alice = await server.CreateUserAsync("alice@portal.test");
        var bob = await server.CreateUserAsync("bob@portal.test");
        var bus = server.Services.GetRequiredService<ISessionBus>();

        var agent = await bus.CreateSessionAsync(new NewSession(SessionKinds.Agent, alice, "Quarterly report", "offline", Status: SessionStatuses.Idle), Ct);
        await bus.AppendAsync(agent.Id, Event(EventDirections.Internal, EventTypes.SessionStarted, new { kind = "agent", agent = "offline" }), Ct);
        await bus.AppendAsync(agent.Id, AgentJson.Event(EventDirections.In, EventTypes.UserInput, EventActors.User, UserInputPayload.FromText("Summarise the giraffe budget")), Ct);
        await bus.AppendAsync(agent.Id, AgentJson.Event(EventDirections.Internal, EventTypes.RunStarted, EventActors.Agent, new RunStartedPayload("run1", 2, "offline", "offline", "offline", true)), Ct);
        foreach (var word in "The budget is fine.".Split(' '))
        {
            await bus.AppendAsync(agent.Id, AgentJson.Event(EventDirections.Out, EventTypes.ResponseDelta, EventActors.Agent, new ResponseDeltaPayload("run1", "msg1", word + " ")), Ct);
        }
        await bus.AppendAsync(agent.Id, AgentJson.Event(EventDirections.Out, EventTypes.ResponseItem, EventActors.Agent,
            ResponseItemPayload.AssistantMessage("run1", "resp1", "msg1", "The budget is fine.")), Ct);
        await bus.AppendAsync(agent.Id, AgentJson.Event(EventDirections.Out, AgentEventTypes.AgentFinished, EventActors.Agent,
            new AgentFinishedPayload("resp1", "run1", TurnStatuses.Completed, new UsagePayload(120, 45))), Ct);

        var widget = await bus.CreateSessionAsync(new NewSession(SessionKinds.CesProxy, null, "Widget session 7f3a", "projects/shop/locations/us/apps/app-1"), Ct);
        await bus.AppendAsync(widget.Id, Event(EventDirections.Internal, EventTypes.SessionStarted, new { origin = "https://shop.example.com" }), Ct);
        await bus.AppendAsync(widget.Id, Event(EventDirections.In, EventTypes.ProxyFrame, new { realtimeInput = new { text = "where is my parcel" } }), Ct);
        await bus.SetStatusAsync(widget.Id, SessionStatuses.Ended, Ct);

        var query = await bus.CreateSessionAsync(new NewSession(SessionKinds.ChatWebSocket, bob, "Weather in Lisbon", "offline", Status: SessionStatuses.Ended), Ct);
        for (var i = 0; i < 3; i++)
        {
            await bus.AppendAsync(query.Id, Event(EventDirections.In, "query", new { type = "query", content = $"Weather in Lisbon, day {i}?" }), Ct);
            await bus.AppendAsync(query.Id, Event(EventDirections.Out, "response", new { type = "response", content = "Sunny." }), Ct);
        }

        var chat = await bus.CreateSessionAsync(new NewSession(SessionKinds.Chat, bob, "Holiday plans", "offline", Status: SessionStatuses.Idle), Ct);
        await bus.AppendAsync(chat.Id, Event(EventDirections.Internal, EventTypes.SessionStarted, new { kind = "chat" }), Ct);

        foreach (var id in new[] { agent.Id, widget.Id, query.Id, chat.Id })
        {
            await bus.WaitUntilDurableAsync(id, Ct);
        }
        // Rows are touched by the writer once its queue runs dry; wait until the counts are there.
        var store = server.Services.GetRequiredService<ISessionStore>();
        await WaitForAsync(async () => (await store.GetAsync(agent.Id, Ct)) is { EventCount: 9 } info ? info : null);
        return new Seeded(agent.Id, "Holiday plans", "Quarterly report");
    }

    private static NewSessionEvent Event<T>(string direction, string type, T payload) =>
        AgentJson.Event(direction, type, direction == EventDirections.In ? EventActors.User : EventActors.System, payload);

    private static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe) where T : class
    {
        for (var i = 0; i < 200; i++)
        {
            if (await probe() is { } value)
            {
                return value;
            }
            await Task.Delay(50, Ct);
        }
        throw new TimeoutException("Waited 10 s in vain.");
    }
}
