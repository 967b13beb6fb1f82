using System.Diagnostics;
using Microsoft.Extensions.Options;

namespace Portal.Memory;

/// <summary>
/// Gives memory back when Portal turns quiet. The .NET collector runs only when something allocates, and its own
/// collections keep what they free committed for the next load, so after a busy time (tabs opened, replies streamed,
/// an export) an idle server goes on holding that time's memory; JDK 12's G1 added its periodic collection (JEP 346)
/// for the same reason. Every <see cref="IdleCollectionOptions.QuietFor"/>, this looks at what the process did
/// meanwhile: when it used almost no CPU and allocated almost nothing, and enough was allocated since the last idle
/// collection to be worth one, it runs one full, compacting collection that decommits what it frees. It never runs
/// under load, where its pause would be felt by open streams.
/// </summary>
internal sealed partial class IdleCollector(
    IRuntimeMemory runtime,
    IOptions<IdleCollectionOptions> options,
    TimeProvider time,
    ILogger<IdleCollector> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.CollectWhenIdle)
        {
            return;
        }
        var policy = new IdleCollectionPolicy(settings, runtime.Read(), time.GetTimestamp());
        using var timer = new PeriodicTimer(settings.QuietFor, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (policy.ShouldCollect(runtime.Read(), time.GetTimestamp(), time) is not { } allocated)
                {
                    continue;
                }
                var started = Stopwatch.GetTimestamp();
                var before = runtime.CommittedBytes;
                runtime.CollectAndDecommit();
                Log.Collected(logger, allocated >> 20, (before - runtime.CommittedBytes) >> 20, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                policy.Collected(runtime.Read(), time.GetTimestamp());
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Quiet after {AllocatedMiB} MiB allocated: a full collection returned {ReturnedMiB} MiB in {PauseMs:0.0} ms")]
        public static partial void Collected(ILogger logger, long allocatedMiB, long returnedMiB, double pauseMs);
    }
}

/// <summary>What the collector decides from, one reading each time it looks.</summary>
/// <param name="AllocatedBytes">Bytes allocated by the process so far.</param>
/// <param name="CpuTime">CPU time the process has used so far.</param>
internal readonly record struct RuntimeReading(long AllocatedBytes, TimeSpan CpuTime);

/// <summary>The process's runtime, as the idle collector sees it.</summary>
internal interface IRuntimeMemory
{
    RuntimeReading Read();

    long CommittedBytes { get; }

    void CollectAndDecommit();
}

internal sealed class ProcessRuntimeMemory : IRuntimeMemory
{
    public RuntimeReading Read() =>
        new(GC.GetTotalAllocatedBytes(precise: false), Environment.CpuUsage.TotalTime);

    public long CommittedBytes => GC.GetGCMemoryInfo().TotalCommittedBytes;

    // Aggressive: blocking and compacting, and the collector decommits all it can instead of keeping it for later.
    public void CollectAndDecommit() => GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
}

/// <summary>
/// Collect when the last interval was quiet (little CPU, little allocated) and enough was allocated since the last
/// idle collection (or the start) to be worth one. The collector's own full collections do not count: they free
/// garbage but keep the memory committed for the next load. After one, nothing until as much is allocated again.
/// </summary>
internal sealed class IdleCollectionPolicy(IdleCollectionOptions options, RuntimeReading start, long startTimestamp)
{
    private RuntimeReading _last = start;
    private long _lastTimestamp = startTimestamp;
    private long _allocatedAtCollection = start.AllocatedBytes;

    /// <summary>The bytes allocated since the last idle collection when one is due now; null otherwise.</summary>
    public long? ShouldCollect(RuntimeReading now, long timestamp, TimeProvider time)
    {
        var elapsed = time.GetElapsedTime(_lastTimestamp, timestamp);
        var previous = _last;
        _last = now;
        _lastTimestamp = timestamp;
        var quiet = now.AllocatedBytes - previous.AllocatedBytes <= options.QuietAllocatedBytes
            && (now.CpuTime - previous.CpuTime).TotalSeconds <= options.QuietCpuShare * elapsed.TotalSeconds;
        var allocated = now.AllocatedBytes - _allocatedAtCollection;
        return quiet && allocated >= options.MinAllocatedBytes ? allocated : null;
    }

    public void Collected(RuntimeReading after, long timestamp)
    {
        _last = after;
        _lastTimestamp = timestamp;
        _allocatedAtCollection = after.AllocatedBytes;
    }
}
