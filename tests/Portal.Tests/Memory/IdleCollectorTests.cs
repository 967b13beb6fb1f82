using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Portal.Memory;

namespace Portal.Tests.Memory;

public class IdleCollectorTests
{
    private const long MiB = 1 << 20;
    private static readonly IdleCollectionOptions Defaults = new();

    [Fact]
    public void ShouldCollect_BusyTimeThenAQuietInterval_CollectsOnceWithWhatWasAllocated()
    {
        var policy = new IdleCollectionPolicy(Defaults, Reading(0, 0), At(0));

        Assert.Null(policy.ShouldCollect(Reading(300 * MiB, 4.0), At(5), TimeProvider.System));
        var due = policy.ShouldCollect(Reading(300 * MiB + 8192, 4.06), At(10), TimeProvider.System);

        Assert.Equal(300 * MiB + 8192, due);
        policy.Collected(Reading(300 * MiB + 8192, 4.1), At(10.03));
        Assert.Null(policy.ShouldCollect(Reading(300 * MiB + 16384, 4.15), At(15), TimeProvider.System));
        Assert.Null(policy.ShouldCollect(Reading(300 * MiB + 24576, 4.2), At(20), TimeProvider.System));
    }

    [Fact]
    public void ShouldCollect_AllocatingSteadily_NeverCollects()
    {
        var policy = new IdleCollectionPolicy(Defaults, Reading(0, 0), At(0));

        for (var tick = 1; tick <= 10; tick++)
        {
            // A reply streaming: 20 MiB and a tenth of a core every 5 s.
            Assert.Null(policy.ShouldCollect(Reading(tick * 20 * MiB, tick * 0.5), At(tick * 5), TimeProvider.System));
        }
    }

    [Fact]
    public void ShouldCollect_BusyWithoutAllocating_NeverCollects()
    {
        // Audio relayed through pooled buffers: a third of a core, almost nothing allocated.
        var policy = new IdleCollectionPolicy(Defaults, Reading(0, 0), At(0));
        Assert.Null(policy.ShouldCollect(Reading(200 * MiB, 3), At(5), TimeProvider.System));

        for (var tick = 2; tick <= 10; tick++)
        {
            Assert.Null(policy.ShouldCollect(Reading(200 * MiB + tick * 4096, 3 + (tick - 1) * 1.6), At(tick * 5), TimeProvider.System));
        }
    }

    [Fact]
    public void ShouldCollect_QuietWithLittleAllocatedSinceTheStart_DoesNotCollect()
    {
        var policy = new IdleCollectionPolicy(Defaults, Reading(40 * MiB, 2), At(0));

        Assert.Null(policy.ShouldCollect(Reading(50 * MiB, 2.5), At(5), TimeProvider.System));
        Assert.Null(policy.ShouldCollect(Reading(50 * MiB + 8192, 2.55), At(10), TimeProvider.System));
    }

    [Fact]
    public void ShouldCollect_CpuShareIsOfTheTimeThatPassed_ALateTickStillSeesQuiet()
    {
        var policy = new IdleCollectionPolicy(Defaults, Reading(0, 0), At(0));
        Assert.Null(policy.ShouldCollect(Reading(100 * MiB, 2), At(5), TimeProvider.System));

        // 0.4 s of CPU: 8% of 5 s (busy), 4% of the 10 s a late tick saw (quiet).
        Assert.NotNull(policy.ShouldCollect(Reading(100 * MiB, 2.4), At(15), TimeProvider.System));
    }

    [Fact]
    public async Task IdleCollector_OnAProcessTurningQuiet_CollectsOnce()
    {
        var runtime = new ScriptedRuntime(Reading(0, 0), Reading(64 * MiB, 1), Reading(64 * MiB, 1.001));
        var options = Options.Create(new IdleCollectionOptions { QuietFor = TimeSpan.FromSeconds(1) });
        using var collector = new IdleCollector(runtime, options, TimeProvider.System, NullLogger<IdleCollector>.Instance);

        await collector.StartAsync(TestContext.Current.CancellationToken);
        await runtime.Collected.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(2.5), TestContext.Current.CancellationToken);
        await collector.StopAsync(TestContext.Current.CancellationToken);

        Assert.Equal(1, runtime.Collections);
    }

    [Fact]
    public async Task IdleCollector_TurnedOff_NeverLooks()
    {
        var runtime = new ScriptedRuntime(Reading(0, 0), Reading(64 * MiB, 1), Reading(64 * MiB, 1.001));
        var options = Options.Create(new IdleCollectionOptions { CollectWhenIdle = false, QuietFor = TimeSpan.FromSeconds(1) });
        using var collector = new IdleCollector(runtime, options, TimeProvider.System, NullLogger<IdleCollector>.Instance);

        await collector.StartAsync(TestContext.Current.CancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(2.5), TestContext.Current.CancellationToken);
        await collector.StopAsync(TestContext.Current.CancellationToken);

        Assert.Equal((0, 0), (runtime.Readings, runtime.Collections));
    }

    private static RuntimeReading Reading(long allocated, double cpuSeconds) => new(allocated, TimeSpan.FromSeconds(cpuSeconds));

    private static long At(double seconds) => (long)(seconds * TimeProvider.System.TimestampFrequency);

    /// <summary>Hands out its readings in order, then the last one again and again.</summary>
    private sealed class ScriptedRuntime(params RuntimeReading[] readings) : IRuntimeMemory
    {
        private int _next;

        public TaskCompletionSource Collected { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Collections { get; private set; }

        public int Readings => _next;

        public long CommittedBytes => 0;

        public RuntimeReading Read() => readings[Math.Min(_next++, readings.Length - 1)];

        public void CollectAndDecommit()
        {
            Collections++;
            Collected.TrySetResult();
        }
    }
}
