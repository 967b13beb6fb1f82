using System.ComponentModel.DataAnnotations;

namespace Portal.Memory;

/// <summary>
/// When Portal turns quiet after busy time, one full compacting collection gives the memory that busy time left
/// behind back to the system (<see cref="IdleCollector"/>). Section <c>Portal:Memory</c>.
/// </summary>
public sealed class IdleCollectionOptions
{
    public const string Section = "Portal:Memory";

    /// <summary>Collect when quiet; false leaves the collector to its own schedule.</summary>
    public bool CollectWhenIdle { get; set; } = true;

    /// <summary>How long the process must have been quiet, which is also how often it is looked at.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan QuietFor { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Quiet: at most this share of one core used over <see cref="QuietFor"/>.</summary>
    [Range(0.001, 1.0)]
    public double QuietCpuShare { get; set; } = 0.05;

    /// <summary>Quiet: at most this many bytes allocated over <see cref="QuietFor"/>.</summary>
    [Range(0, long.MaxValue)]
    public long QuietAllocatedBytes { get; set; } = 1 << 20;

    /// <summary>Worth it: at least this many bytes allocated since the last idle collection (or the start).</summary>
    [Range(1, long.MaxValue)]
    public long MinAllocatedBytes { get; set; } = 16 << 20;
}
