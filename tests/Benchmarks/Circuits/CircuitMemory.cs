namespace Portal.Benchmarks.Circuits;

/// <summary>
/// Memory per circuit: one fresh server process, one browser context with one tab on "/" (after four warm-up tabs
/// opened and closed), then N - 1 more tabs, each until its circuit is up. On Portal, the user may have conversations,
/// started through the composer (the offline agent answers) in a Portal that then shut down, so every tab's list shows
/// them and nothing else of them is in memory. Both states are read after the server has been idle a few seconds: its
/// resident memory as it stands, then, after the probe's full compacting collection, the managed heap and the resident
/// memory again. Per circuit is (with N tabs - with 1 tab) / (N - 1).
/// </summary>
internal static class CircuitMemory
{
    private const int WarmupTabs = 4;

    public static async Task<MemoryResult> MeasureAsync(HeadlessChromium chromium, MemoryVariant variant, int tabs, TimeSpan settle, CancellationToken cancellationToken)
    {
        await using var server = await variant.StartAsync(chromium);
        var context = await chromium.NewContextAsync(server);
        try
        {
            // The first tabs take the JIT, the pools and the caches; the measured ones should not.
            var warmup = await HeadlessChromium.OpenTabsAsync(context, server, WarmupTabs);
            foreach (var page in warmup)
            {
                await page.CloseAsync();
            }
            var circuitsBefore = await server.WaitForCircuitsAsync(1, TimeSpan.FromSeconds(30), cancellationToken);
            await Task.Delay(settle, cancellationToken);
            var before = await SampleAsync(server, cancellationToken);

            await HeadlessChromium.OpenTabsAsync(context, server, tabs - 1);
            var circuitsAfter = await server.WaitForCircuitsAsync(tabs, TimeSpan.FromSeconds(30), cancellationToken);
            await Task.Delay(settle, cancellationToken);
            var after = await SampleAsync(server, cancellationToken);
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

    private static async Task<MemorySample> SampleAsync(CircuitServer server, CancellationToken cancellationToken)
    {
        var resident = server.ResidentBytes();
        var collected = await server.CollectAsync(cancellationToken);
        return new MemorySample(resident, server.ResidentBytes(), collected.ManagedHeapBytes, collected.CommittedBytes);
    }
}

/// <summary>A server to measure.</summary>
internal sealed record MemoryVariant(string Name, Func<HeadlessChromium, Task<CircuitServer>> StartAsync)
{
    /// <summary>
    /// Portal without a model (the built-in offline agent answers, with no pause between words), its user with
    /// <paramref name="conversations"/>; with <paramref name="compressedSocket"/>, <c>Portal:Ui:WebSocketCompression</c> on.
    /// </summary>
    public static MemoryVariant Portal(int conversations, bool compressedSocket = false) => new(
        (conversations == 0 ? "Portal, empty list" : $"Portal, {conversations} conversations") + (compressedSocket ? ", compressed socket" : ""),
        chromium => CircuitServer.StartPortalAsync(
            new()
            {
                ["Portal__OfflineAgent__TokenDelay"] = "00:00:00",
                ["Portal__Ui__WebSocketCompression"] = compressedSocket ? "true" : "false",
            },
            conversations == 0 ? null : server => CircuitMemory.StartConversationsAsync(chromium, server, conversations)));

    public static MemoryVariant Minimal { get; } = new("minimal Blazor app", _ => CircuitServer.StartMinimalAsync());
}

/// <param name="Resident">VmRSS as it stands after the idle pause.</param>
/// <param name="ResidentAfterCollection">VmRSS just after a full compacting collection.</param>
/// <param name="ManagedHeap">Bytes in use on the managed heap after that collection.</param>
/// <param name="Committed">Memory the garbage collector kept committed after that collection.</param>
internal sealed record MemorySample(long Resident, long ResidentAfterCollection, long ManagedHeap, long Committed);

internal sealed record MemoryResult(string Server, int Tabs, long CircuitsBefore, long CircuitsAfter, MemorySample Before, MemorySample After)
{
    public double ResidentPerCircuit => (After.Resident - Before.Resident) / (double)(Tabs - 1);
    public double ResidentAfterCollectionPerCircuit => (After.ResidentAfterCollection - Before.ResidentAfterCollection) / (double)(Tabs - 1);
    public double ManagedHeapPerCircuit => (After.ManagedHeap - Before.ManagedHeap) / (double)(Tabs - 1);
    public double CommittedPerCircuit => (After.Committed - Before.Committed) / (double)(Tabs - 1);
    public bool CircuitsAsExpected => CircuitsBefore == 1 && CircuitsAfter == Tabs;
}
