using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Playwright;
using Portal.Benchmarks.Agents;

namespace Portal.Benchmarks.Circuits;

/// <summary>
/// Streaming to circuits: Portal runs an OpenAI-compatible agent against <see cref="PacedModelServer"/> (numbered
/// tokens, send times kept); each tab asks its own question through the composer, as a person does, and a
/// MutationObserver installed before the page's scripts records, in the browser, every DOM update that changed the
/// reply being streamed: when (<c>Date.now()</c>) and which token is last in it. The provider's send times are
/// <c>DateTime.UtcNow</c> in this process; both are the machine's wall clock.
/// </summary>
internal static class CircuitStreaming
{
    // Runs on every new document before its scripts; one observer for the whole document, so any render batch that
    // changes the last assistant reply is seen once, in the callback that follows it.
    private const string Observer = """
        (() => {
          const bench = window.__portalBench = { changes: [], callbacks: 0, lastIndex: -1 };
          new MutationObserver(() => {
            bench.callbacks++;
            const replies = document.querySelectorAll('[data-testid=message-assistant] .chat-message-body');
            if (replies.length === 0) return;
            const match = /(\d+)\s*$/.exec(replies[replies.length - 1].textContent.slice(-32));
            const index = match ? Number(match[1]) : -1;
            if (index !== bench.lastIndex) {
              bench.lastIndex = index;
              bench.changes.push([Date.now(), index]);
            }
          }).observe(document, { subtree: true, childList: true, characterData: true });
        })();
        """;

    private const string Outcome = """
        n => {
          const bench = window.__portalBench;
          const replies = document.querySelectorAll('[data-testid=message-assistant] .chat-message-body');
          const words = replies.length ? replies[replies.length - 1].textContent.trim().split(/\s+/) : [];
          const complete = words.length === n && words.every((w, i) => w === String(i));
          return { changes: bench.changes, callbacks: bench.callbacks, complete };
        }
        """;

    public static async Task<StreamingResult> MeasureAsync(HeadlessChromium chromium, int tabs, int rate, int seconds, int warmupSeconds, int paragraphEvery, CancellationToken cancellationToken)
    {
        await using var model = await PacedModelServer.StartAsync();
        model.NumberedTokens = true;
        model.ParagraphEvery = paragraphEvery;
        model.TokensPerSecond = rate;
        await using var server = await CircuitServer.StartPortalAsync(new Dictionary<string, string>
        {
            ["PROVIDER"] = "openai",
            ["MODEL"] = "gpt-4o-mini",
            ["OPENAI_BASE_URL"] = model.BaseUrl.ToString(),
            ["OPENAI_API_KEY"] = "sk-benchmark-key",
        });
        var context = await chromium.NewContextAsync(server, Observer);
        try
        {
            var pages = new List<IPage> { context.Pages[0] };
            pages.AddRange(await HeadlessChromium.OpenTabsAsync(context, server, tabs - 1));

            // Warm-up: the same path, shorter, so the JIT has finished its tiers; then every tab starts anew on "/".
            model.StreamFor = TimeSpan.FromSeconds(warmupSeconds);
            await StreamAsync(pages, model, firstStream: 1000, cancellationToken);
            var circuitBytes = new CircuitSocketBytes();
            foreach (var page in pages)
            {
                circuitBytes.Watch(page);
                await page.GotoAsync("/");
                await HeadlessChromium.WaitForInteractiveAsync(page, server);
            }
            await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken);

            model.Reset();
            model.StreamFor = TimeSpan.FromSeconds(seconds);
            var portalCpu = server.CpuTime();
            var browserCpu = BrowserCpu(excluding: server.ProcessId);
            var batches = (await server.ReadAsync(cancellationToken)).RenderBatches;
            circuitBytes.Reset();
            var wall = Stopwatch.StartNew();
            await StreamAsync(pages, model, firstStream: 0, cancellationToken);
            wall.Stop();
            var (bytesToBrowser, bytesFromBrowser) = circuitBytes.Read();
            portalCpu = server.CpuTime() - portalCpu;
            browserCpu = BrowserCpu(excluding: server.ProcessId) - browserCpu;
            batches = (await server.ReadAsync(cancellationToken)).RenderBatches - batches;

            var count = (int)(seconds * rate);
            var perTab = new List<TabResult>();
            for (var stream = 0; stream < pages.Count; stream++)
            {
                var outcome = await pages[stream].EvaluateAsync<JsonElement>(Outcome, count);
                perTab.Add(TabResult.From(outcome, count, k => model.SentAt(stream, k)));
            }
            return new StreamingResult(tabs, rate, seconds, count, perTab, wall.Elapsed, portalCpu, browserCpu, batches, server.ResidentBytes(),
                bytesToBrowser, bytesFromBrowser);
        }
        finally
        {
            await context.CloseAsync();
        }
    }

    /// <summary>Each tab sends "stream k: go" through the composer; returns once every tab shows its reply's last token.</summary>
    private static async Task StreamAsync(List<IPage> pages, PacedModelServer model, int firstStream, CancellationToken cancellationToken)
    {
        var count = (int)(model.StreamFor.TotalSeconds * model.TokensPerSecond);
        for (var i = 0; i < pages.Count; i++)
        {
            var composer = pages[i].GetByLabel("Message", new() { Exact = true });
            await composer.FillAsync($"stream {firstStream + i}: go");
            await composer.PressAsync("Enter");
        }
        var limit = model.StreamFor.TotalMilliseconds + 120_000;
        foreach (var page in pages)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await page.WaitForFunctionAsync("n => window.__portalBench.lastIndex >= n - 1", count,
                new PageWaitForFunctionOptions { PollingInterval = 500, Timeout = (float)limit });
        }
    }

    /// <summary>utime + stime of this process's descendants but the server: Chromium and Playwright's driver.</summary>
    private static TimeSpan BrowserCpu(int excluding)
    {
        var parents = new Dictionary<int, (int Parent, long Ticks)>();
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(folder, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                parents[pid] = (int.Parse(fields[1], CultureInfo.InvariantCulture),
                    long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture));
            }
            catch (IOException)
            {
                // The process ended while being read.
            }
        }
        long ticks = 0;
        foreach (var (pid, (_, own)) in parents)
        {
            for (var at = pid; parents.TryGetValue(at, out var entry) && at != excluding; at = entry.Parent)
            {
                if (entry.Parent == Environment.ProcessId)
                {
                    ticks += own;
                    break;
                }
            }
        }
        return TimeSpan.FromMilliseconds(ticks * 10);
    }
}

/// <summary>One tab's stream as its DOM showed it.</summary>
/// <param name="Complete">The reply in the DOM is every token, in order, once.</param>
/// <param name="Batches">DOM updates that changed the reply, from its first token to its last.</param>
/// <param name="Callbacks">MutationObserver callbacks on the whole document over the page's life (every DOM update).</param>
/// <param name="BatchesPerSecond">Those updates per second, between the first and the last.</param>
/// <param name="TokenDelaysMs">
/// For every token after the first update, from the provider's write to the first update showing it (the first update
/// comes after the tab has moved to the new conversation's address, so its tokens waited for that too).
/// </param>
/// <param name="LastTokenDelayMs">The same for the reply's last token.</param>
internal sealed record TabResult(bool Complete, int Batches, int Callbacks, double BatchesPerSecond, List<double> TokenDelaysMs, double LastTokenDelayMs)
{
    public static TabResult From(JsonElement outcome, int count, Func<int, DateTime> sentAt)
    {
        var delays = new List<double>(count);
        var shown = -1;
        var first = double.NaN;
        var last = double.NaN;
        var batches = 0;
        foreach (var change in outcome.GetProperty("changes").EnumerateArray())
        {
            var at = change[0].GetDouble();
            var index = change[1].GetInt32();
            if (index <= shown || shown == count - 1)
            {
                continue;
            }
            batches++;
            last = at;
            if (double.IsNaN(first))
            {
                first = at;
            }
            else
            {
                for (var k = shown + 1; k <= index; k++)
                {
                    delays.Add(at - UnixMilliseconds(sentAt(k)));
                }
            }
            shown = index;
        }
        return new TabResult(
            outcome.GetProperty("complete").GetBoolean() && shown == count - 1,
            batches,
            outcome.GetProperty("callbacks").GetInt32(),
            (batches - 1) / ((last - first) / 1000),
            delays,
            shown == count - 1 ? last - UnixMilliseconds(sentAt(count - 1)) : double.NaN);
    }

    private static double UnixMilliseconds(DateTime utc) => (utc - DateTime.UnixEpoch).TotalMilliseconds;
}

/// <summary>
/// One streaming measurement; <c>CircuitBytesToBrowser</c> and <c>CircuitBytesFromBrowser</c> are the payload bytes of the
/// circuits' WebSocket messages to and from the tabs over the measured phase.
/// </summary>
internal sealed record StreamingResult(int Tabs, int Rate, int Seconds, int TokensEach, List<TabResult> PerTab, TimeSpan Wall,
    TimeSpan PortalCpu, TimeSpan BrowserCpu, long ServerRenderBatches, long PortalResident, long CircuitBytesToBrowser, long CircuitBytesFromBrowser);

/// <summary>
/// Payload bytes of the tabs' circuit sockets (<c>/_blazor</c>), as Chromium's DevTools report each message. Those are the
/// bytes after decompression: with the circuit socket uncompressed (Portal's default) they are what went over the wire,
/// give or take 2 to 14 bytes of frame header per message.
/// </summary>
internal sealed class CircuitSocketBytes
{
    private long _toBrowser;
    private long _fromBrowser;

    public void Watch(IPage page) => page.WebSocket += (_, socket) =>
    {
        if (!socket.Url.Contains("/_blazor", StringComparison.Ordinal))
        {
            return;
        }
        socket.FrameReceived += (_, frame) => Interlocked.Add(ref _toBrowser, SizeOf(frame));
        socket.FrameSent += (_, frame) => Interlocked.Add(ref _fromBrowser, SizeOf(frame));
    };

    public void Reset()
    {
        Interlocked.Exchange(ref _toBrowser, 0);
        Interlocked.Exchange(ref _fromBrowser, 0);
    }

    public (long ToBrowser, long FromBrowser) Read() => (Interlocked.Read(ref _toBrowser), Interlocked.Read(ref _fromBrowser));

    private static long SizeOf(IWebSocketFrame frame) => frame.Binary?.Length ?? System.Text.Encoding.UTF8.GetByteCount(frame.Text ?? "");
}
