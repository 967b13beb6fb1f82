using System.ComponentModel.DataAnnotations;

namespace Portal.Sessions;

/// <summary>The session event log: where it is stored and how the durable writer behaves.</summary>
public sealed class SessionsOptions
{
    public const string Section = "Portal:Sessions";

    /// <summary>The SQLite database file; a relative path is taken from the working directory.</summary>
    [Required]
    public string DatabasePath { get; set; } = "data/portal.db";

    /// <summary>Events waiting for the writer before appends wait (backpressure; nothing is dropped).</summary>
    [Range(16, 10_000_000)]
    public int WriterQueueCapacity { get; set; } = 65_536;

    /// <summary>Most events written in one transaction.</summary>
    [Range(1, 100_000)]
    public int WriterMaxBatch { get; set; } = 4_096;

    /// <summary>
    /// How long the writer waits for more events when a batch is not full, so a trickle of events shares one commit.
    /// Events become durable at most this much later; appends and live subscribers are not delayed.
    /// </summary>
    public TimeSpan WriterLinger { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Size of the write-ahead log past which it is started over: a checkpoint that briefly holds the writer back copies
    /// its last frames into the database. Without it a log that never rests (the writer commits during every
    /// checkpoint) would grow as long as the load lasts. The file is also cut back to this size when it starts over.
    /// </summary>
    [Range(1024 * 1024, long.MaxValue)]
    public long WalRestartBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>
    /// Under load (a batch of <see cref="Storage.DurableEventWriter.BusyBatch"/> events or more), message text is not put
    /// into the full-text index in its event's transaction but stored beside it, and indexed in bulk once it has waited
    /// this long: the index then takes one large write a second instead of one per commit (measured on recorded widget
    /// frames at 10,000 a second: a fifth less CPU, a third fewer bytes written). Searches may miss text this much
    /// younger than its event. Zero: text is always indexed with its event.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan SearchIndexDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the writer waits for a database another connection has locked before the batch counts as failed: it is
    /// then reported (log, health, status page) and retried with backoff; nothing is dropped.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan WriterBusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a frame from a <c>/ws/agent</c> or <c>/ws/chat</c> client may wait for room in the writer's full queue;
    /// after that the connection is closed with 1013 (try again later) and the frame is neither recorded nor acted on.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan AppendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest payload stored as is; a bigger one is stored as a preview with its original size.</summary>
    [Range(1_024, 64 * 1024 * 1024)]
    public int MaxStoredPayloadBytes { get; set; } = 256 * 1024;

    /// <summary>Live events buffered per subscriber before it is sent back to the store to catch up.</summary>
    [Range(16, 1_000_000)]
    public int SubscriberBuffer { get; set; } = 4_096;

    /// <summary>In-memory state of a session with no subscribers and nothing pending is released after this idle time.</summary>
    public TimeSpan IdleStateLifetime { get; set; } = TimeSpan.FromMinutes(5);
}
