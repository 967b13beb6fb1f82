using System.Globalization;
using Portal.Benchmarks.Proxy;
using static Portal.Benchmarks.CommandLine;

namespace Portal.Benchmarks.Circuits;

/// <summary>
/// Blazor Server circuits with real browser tabs: memory per circuit in Portal (Release, its own process) against a
/// minimal Blazor app served the same way, for several numbers of tabs; then tokens streamed to many tabs at once, as
/// each tab's DOM shows them (<see cref="CircuitMemory"/>, <see cref="CircuitStreaming"/>). <c>--tabs</c> and
/// <c>--stream-tabs</c> take comma-separated lists; 0 skips that part. <c>--compressed</c> also measures Portal with its
/// circuits' WebSocket compressed (<c>Portal:Ui:WebSocketCompression</c>), its user with the conversations.
/// </summary>
internal static class CircuitBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var tabCounts = ListOption(args, "--tabs", [25, 50, 100]);
        var runs = Option(args, "--runs", 2);
        var settle = TimeSpan.FromSeconds(Option(args, "--settle", 20));
        var conversations = Option(args, "--conversations", 20);
        var streamTabs = ListOption(args, "--stream-tabs", [20]);
        var rate = Option(args, "--rate", 50);
        var seconds = Option(args, "--seconds", 30);
        var warmup = Option(args, "--warmup", 10);
        var warmupTabs = Option(args, "--warmup-tabs", 100);
        var paragraphEvery = Option(args, "--paragraph-every", 0);
        var compressed = args.Contains("--compressed");
        var dumps = TextOption(args, "--heap-dumps");
        var environmentVariants = args.Select((arg, i) => (arg, i)).Where(a => a.arg == "--variant-env" && a.i + 1 < args.Length).Select(a => args[a.i + 1]).ToList();
        using var timeout = new CancellationTokenSource(TimeSpan.FromHours(2));

        await using var chromium = await HeadlessChromium.LaunchAsync();
        Console.WriteLine($"Blazor circuits benchmark, {DateTime.UtcNow:yyyy-MM-dd}: {Environment.ProcessorCount} cores, .NET {Environment.Version}, " +
            $"headless Chromium {chromium.Version}, servers in processes of their own (workstation concurrent GC)");
        var healthy = true;

        if (tabCounts.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine($"Load average before: {LoadAverage()}");
            Console.WriteLine($"Memory per circuit: tabs {string.Join(", ", tabCounts)}, {runs} runs, {settle.TotalSeconds:0} s idle before each reading, a fresh server for each, {warmupTabs} warm-up tabs opened and closed first; " +
                $"Portal with no model (the offline agent), its user with no conversation and with {conversations}");
            Console.WriteLine();
            Console.WriteLine("| server | tabs | run | circuits (1 tab / N tabs) | RSS 1 tab | RSS N tabs | RSS per circuit | RSS per circuit after full GC | managed heap 1 tab | managed heap N tabs | managed heap per circuit | GC committed per circuit | JIT code per circuit |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            var results = new List<MemoryResult>();
            for (var run = 1; run <= runs; run++)
            {
                foreach (var tabs in tabCounts)
                {
                    // Alternate which server goes first, so that neighbours' noise does not always hit the same one.
                    var variants = new List<MemoryVariant> { MemoryVariant.Portal(0), MemoryVariant.Minimal };
                    if (conversations > 0)
                    {
                        variants.Insert(1, MemoryVariant.Portal(conversations));
                    }
                    if (compressed)
                    {
                        variants.Insert(variants.Count - 1, MemoryVariant.Portal(conversations, compressedSocket: true));
                    }
                    foreach (var environment in environmentVariants)
                    {
                        variants.Insert(variants.Count - 1, MemoryVariant.Portal(conversations, environment: environment));
                    }
                    if (run % 2 == 0)
                    {
                        variants.Reverse();
                    }
                    foreach (var variant in variants)
                    {
                        var result = await CircuitMemory.MeasureAsync(chromium, variant, tabs, warmupTabs, settle, dumps, timeout.Token);
                        results.Add(result);
                        healthy &= result.CircuitsAsExpected;
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"| {result.Server} | {tabs} | {run} | {result.CircuitsBefore} / {result.CircuitsAfter} | {MiB(result.Before.Resident)} | {MiB(result.After.Resident)} | " +
                            $"{KiB(result.ResidentPerCircuit)} | {KiB(result.ResidentAfterCollectionPerCircuit)} | {MiB(result.Before.ManagedHeap)} | {MiB(result.After.ManagedHeap)} | **{KiB(result.ManagedHeapPerCircuit)}** | {KiB(result.CommittedPerCircuit)} | {KiB(result.JitCodePerCircuit)} |"));
                    }
                }
            }
            Console.WriteLine();
            Console.WriteLine("Medians over runs:");
            Console.WriteLine();
            Console.WriteLine("| server | tabs | managed heap per circuit | RSS per circuit | RSS per circuit after full GC |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            foreach (var group in results.GroupBy(r => (r.Server, r.Tabs)).OrderBy(g => g.Key.Server, StringComparer.Ordinal).ThenBy(g => g.Key.Tabs))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {group.Key.Server} | {group.Key.Tabs} | {KiB(Median(group, r => r.ManagedHeapPerCircuit))} | {KiB(Median(group, r => r.ResidentPerCircuit))} | {KiB(Median(group, r => r.ResidentAfterCollectionPerCircuit))} |"));
            }
            if (tabCounts.Count > 1)
            {
                // Each N pays once for what is not per circuit (pools, caches grown by the burst of new tabs), spread over
                // N - 1; the slope between the smallest and the largest N leaves that out.
                var (few, many) = (tabCounts.Min(), tabCounts.Max());
                Console.WriteLine();
                Console.WriteLine($"Per added circuit between {few} and {many} tabs (medians of the readings with N tabs, difference / {many - few}):");
                Console.WriteLine();
                Console.WriteLine("| server | managed heap per added circuit | RSS per added circuit |");
                Console.WriteLine("|---|---:|---:|");
                foreach (var server in results.Select(r => r.Server).Distinct().Order(StringComparer.Ordinal))
                {
                    double Slope(Func<MemorySample, long> pick) =>
                        (Median(results.Where(r => r.Server == server && r.Tabs == many), r => pick(r.After))
                        - Median(results.Where(r => r.Server == server && r.Tabs == few), r => pick(r.After))) / (many - few);
                    Console.WriteLine($"| {server} | {KiB(Slope(m => m.ManagedHeap))} | {KiB(Slope(m => m.Resident))} |");
                }
            }
        }

        if (streamTabs.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine($"Streaming: {string.Join(" then ", streamTabs)} tabs, each its own conversation, {rate} tokens/s for {seconds} s from a paced OpenAI-compatible stream " +
                $"(warm-up {warmup} s first), a fresh Portal for each; Portal renders queued events at most every 50 ms" +
                (paragraphEvery > 0 ? $"; a new paragraph every {paragraphEvery} tokens" : "; the reply one paragraph"));
            var rows = new List<string>();
            foreach (var tabs in streamTabs)
            {
                var load = LoadAverage();
                var result = await CircuitStreaming.MeasureAsync(chromium, tabs, rate, seconds, warmup, paragraphEvery, timeout.Token);
                var complete = result.PerTab.Count(t => t.Complete);
                healthy &= complete == result.Tabs;
                var perSecond = result.PerTab.Select(t => t.BatchesPerSecond).Order().ToList();
                var lastToken = result.PerTab.Select(t => t.LastTokenDelayMs).Order().ToList();
                var delays = Percentiles.Of([.. result.PerTab.SelectMany(t => t.TokenDelaysMs)]);
                var tokensPerUpdate = result.TokensEach / result.PerTab.Average(t => (double)t.Batches);
                var serverBatches = result.ServerRenderBatches / (double)result.Tabs / result.Wall.TotalSeconds;
                var tokens = (double)result.TokensEach * result.Tabs;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{tabs} tabs: load average before {load}; measured {result.Wall.TotalSeconds:0.0} s from the first question to the last tab showing its last token; " +
                    $"Portal CPU {result.PortalCpu.TotalSeconds:0.0} s ({result.PortalCpu.TotalMilliseconds / (tokens / 1000):0} ms per 1,000 tokens), " +
                    $"Chromium and Playwright's driver {result.BrowserCpu.TotalSeconds:0.0} s, Portal RSS at the end {MiB(result.PortalResident)}; " +
                    $"circuit sockets {result.CircuitBytesToBrowser / 1024.0 / result.Tabs / result.Wall.TotalSeconds:0.0} KiB/s per tab to the browser " +
                    $"({result.CircuitBytesToBrowser / 1024.0 / result.Tabs:0} KiB per reply of {result.TokensEach} tokens), " +
                    $"{result.CircuitBytesFromBrowser / 1024.0 / result.Tabs / result.Wall.TotalSeconds:0.0} KiB/s per tab from it"));
                rows.Add(string.Create(CultureInfo.InvariantCulture,
                    $"| {result.Tabs} x {result.Rate} x {result.Seconds} | {complete} of {result.Tabs} | {perSecond[perSecond.Count / 2]:0.0} ({perSecond[0]:0.0}-{perSecond[^1]:0.0}) | " +
                    $"{serverBatches:0.0} | {tokensPerUpdate:0.0} | {delays.P50:0} ms / {delays.P99:0} ms | {lastToken[lastToken.Count / 2]:0} ms / {lastToken[^1]:0} ms | " +
                    $"{result.PortalCpu.TotalSeconds / result.Wall.TotalSeconds * 100:0} % of one core | {result.BrowserCpu.TotalSeconds / result.Wall.TotalSeconds * 100:0} % of one core |"));
            }
            Console.WriteLine();
            Console.WriteLine("| tabs x tokens/s x s | replies complete in the DOM | DOM updates/s per tab, median (min-max) | render batches/s per circuit (server) | tokens per update | token delay p50 / p99 | last-token delay median / max | Portal CPU | Chromium CPU |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
            rows.ForEach(Console.WriteLine);
        }
        return healthy ? 0 : 1;
    }

    private static double Median<T>(IEnumerable<T> items, Func<T, double> pick)
    {
        var values = items.Select(pick).Order().ToList();
        return values.Count % 2 == 1 ? values[values.Count / 2] : (values[values.Count / 2 - 1] + values[values.Count / 2]) / 2;
    }

    private static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static string MiB(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} MiB");

    private static string KiB(double bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024:0} KiB");

    /// <summary>A comma-separated list of numbers; "0" for none.</summary>
    private static List<int> ListOption(string[] args, string name, List<int> fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length
            ? [.. args[at + 1].Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture)).Where(n => n > 1)]
            : fallback;
    }
}
