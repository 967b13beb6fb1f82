using System.Buffers;
using System.Globalization;

namespace Portal.Benchmarks.Circuits;

/// <summary>
/// Memory per circuit: one fresh server process, one browser context with one tab on "/" (after warm-up tabs opened
/// four at a time and closed, as the measured ones are opened), then N - 1 more tabs, each until its circuit is up. On Portal, the user may have conversations,
/// started through the composer (the offline agent answers) in a Portal that then shut down, so every tab's list shows
/// them and nothing else of them is in memory. Both states are read after the server has been idle a few seconds: its
/// resident memory as it stands, then, after the probe's full compacting collection, the managed heap and the resident
/// memory again. Per circuit is (with N tabs - with 1 tab) / (N - 1).
/// </summary>
internal static class CircuitMemory
{
    public static async Task<MemoryResult> MeasureAsync(HeadlessChromium chromium, MemoryVariant variant, int tabs, int warmupTabs, TimeSpan settle, string? dumps, CancellationToken cancellationToken)
    {
        await using var server = await variant.StartAsync(chromium);
        var context = await chromium.NewContextAsync(server);
        try
        {
            // The first tabs pay what a process pays once: the JIT's tiered recompilation of the hot paths, the native
            // allocator's arenas grown by tabs opening side by side, the pools and the caches. The measured tabs should
            // not: 25 warm-up tabs still left about 60 KiB of JIT code per measured circuit, 100 leave 1-13 KiB
            // (JitCode shows what is left). The idle pause before each reading is longer than Portal takes to give
            // memory back once quiet (Portal:Memory, 5-10 s after the last activity).
            var warmup = await HeadlessChromium.OpenTabsAsync(context, server, warmupTabs);
            foreach (var page in warmup)
            {
                await page.CloseAsync();
            }
            var circuitsBefore = await server.WaitForCircuitsAsync(1, TimeSpan.FromSeconds(30), cancellationToken);
            await Task.Delay(settle, cancellationToken);
            var before = await SampleAsync(server, Dump(dumps, variant, tabs, "1"), cancellationToken);

            await HeadlessChromium.OpenTabsAsync(context, server, tabs - 1);
            var circuitsAfter = await server.WaitForCircuitsAsync(tabs, TimeSpan.FromSeconds(30), cancellationToken);
            await Task.Delay(settle, cancellationToken);
            var after = await SampleAsync(server, Dump(dumps, variant, tabs, tabs.ToString(CultureInfo.InvariantCulture)), cancellationToken);
            return new MemoryResult(variant.Name, tabs, circuitsBefore, circuitsAfter, before, after);
        }
        finally
        {
            await context.CloseAsync();
        }
    }

    /// <summary>The administrator starts <paramref name="count"/> conversations through the composer, as a person does.</summary>
    public static async Task StartConversationsAsync(HeadlessChromium chromium, CircuitServer server, int count)
    {
        var context = await chromium.NewContextAsync(server);
        var page = context.Pages[0];
        for (var i = 1; i <= count; i++)
        {
            var composer = page.GetByLabel("Message", new() { Exact = true });
            await composer.FillAsync($"Conversation {i}: hello");
            await composer.PressAsync("Enter");
            await page.WaitForURLAsync("**/c/**");
            await page.Locator("[data-testid=message-assistant][aria-busy=false]").WaitForAsync();
            await page.GotoAsync("/");
            await HeadlessChromium.WaitForInteractiveAsync(page, server);
        }
        await context.CloseAsync();
    }

    /// <summary>Where a reading's heap dump goes, when <c>--heap-dumps DIR</c> asks for them.</summary>
    private static string? Dump(string? directory, MemoryVariant variant, int tabs, string of) =>
        directory is null ? null : Path.Combine(directory, $"{string.Concat(variant.Name.Split(Path.GetInvalidFileNameChars().Append(' ').Append(',').ToArray()))}-{tabs}-{of}.dmp");

    private static async Task<MemorySample> SampleAsync(CircuitServer server, string? dump, CancellationToken cancellationToken)
    {
        var resident = server.ResidentBytes();
        var jitCode = JitCodeBytes(server.ProcessId);
        var collected = await server.CollectAsync(cancellationToken);
        if (dump is not null)
        {
            // After the collection, so the dump holds what is live; read by type with "heap-diff".
            await HeapDiff.CreateDumpAsync(server.ProcessId, dump, cancellationToken);
        }
        return new MemorySample(resident, server.ResidentBytes(), collected.ManagedHeapBytes, collected.CommittedBytes, jitCode);
    }

    /// <summary>
    /// Resident bytes of the JIT's code: with W^X (.NET's default) it is written through a second, writable mapping of
    /// one memory file, named <c>doublemapper</c> in <c>/proc/PID/smaps</c>.
    /// </summary>
    private static long JitCodeBytes(int processId)
    {
        long kib = 0;
        var inCode = false;
        foreach (var line in File.ReadLines($"/proc/{processId}/smaps"))
        {
            if (IsMappingHeader(line))
            {
                inCode = line.EndsWith("doublemapper", StringComparison.Ordinal) || line.EndsWith("doublemapper (deleted)", StringComparison.Ordinal);
            }
            else if (inCode && line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                kib += long.Parse(line.AsSpan(4).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            }
        }
        return kib * 1024;
    }

    /// <summary>A mapping's first line, "start-end perms offset dev inode [name]"; the lines after it are "Key: value".</summary>
    private static bool IsMappingHeader(string line)
    {
        var range = line.AsSpan(0, Math.Max(0, line.IndexOf(' ')));
        return range.IndexOf('-') > 0 && !range.ContainsAnyExcept(AddressRange);
    }

    private static readonly SearchValues<char> AddressRange = SearchValues.Create("0123456789abcdef-");
}

/// <summary>A server to measure.</summary>
internal sealed record MemoryVariant(string Name, Func<HeadlessChromium, Task<CircuitServer>> StartAsync)
{
    /// <summary>
    /// Portal without a model (the built-in offline agent answers, with no pause between words), its user with
    /// <paramref name="conversations"/>; with <paramref name="compressedSocket"/>, <c>Portal:Ui:WebSocketCompression</c> on;
    /// with <paramref name="environment"/> (<c>KEY=value;KEY=value</c>), those variables set too (runtime settings, say).
    /// </summary>
    public static MemoryVariant Portal(int conversations, bool compressedSocket = false, string? environment = null) => new(
        (conversations == 0 ? "Portal, empty list" : $"Portal, {conversations} conversations") + (compressedSocket ? ", compressed socket" : "") +
        (environment is null ? "" : $", {environment}"),
        chromium => CircuitServer.StartPortalAsync(
            new Dictionary<string, string>
            {
                ["Portal__OfflineAgent__TokenDelay"] = "00:00:00",
                ["Portal__Ui__WebSocketCompression"] = compressedSocket ? "true" : "false",
            }.Concat((environment ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries).Select(pair => pair.Split('=', 2))
                .Select(pair => KeyValuePair.Create(pair[0], pair[1]))).ToDictionary(),
            conversations == 0 ? null : server => CircuitMemory.StartConversationsAsync(chromium, server, conversations)));

    public static MemoryVariant Minimal { get; } = new("minimal Blazor app", _ => CircuitServer.StartMinimalAsync());
}

/// <param name="Resident">VmRSS as it stands after the idle pause.</param>
/// <param name="ResidentAfterCollection">VmRSS just after a full compacting collection.</param>
/// <param name="ManagedHeap">Bytes in use on the managed heap after that collection.</param>
/// <param name="Committed">Memory the garbage collector kept committed after that collection.</param>
/// <param name="JitCode">Resident bytes of JIT-compiled code, before that collection.</param>
internal sealed record MemorySample(long Resident, long ResidentAfterCollection, long ManagedHeap, long Committed, long JitCode);

internal sealed record MemoryResult(string Server, int Tabs, long CircuitsBefore, long CircuitsAfter, MemorySample Before, MemorySample After)
{
    public double ResidentPerCircuit => (After.Resident - Before.Resident) / (double)(Tabs - 1);
    public double ResidentAfterCollectionPerCircuit => (After.ResidentAfterCollection - Before.ResidentAfterCollection) / (double)(Tabs - 1);
    public double ManagedHeapPerCircuit => (After.ManagedHeap - Before.ManagedHeap) / (double)(Tabs - 1);
    public double CommittedPerCircuit => (After.Committed - Before.Committed) / (double)(Tabs - 1);
    public double JitCodePerCircuit => (After.JitCode - Before.JitCode) / (double)(Tabs - 1);
    public bool CircuitsAsExpected => CircuitsBefore == 1 && CircuitsAfter == Tabs;
}
