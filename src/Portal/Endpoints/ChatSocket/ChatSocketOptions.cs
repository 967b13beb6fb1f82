using System.ComponentModel.DataAnnotations;

namespace Portal.Endpoints.ChatSocket;

/// <summary><c>Portal:ChatSocket</c>: the query/response protocol of <c>/ws/chat</c> (seed 002).</summary>
public sealed class ChatSocketOptions
{
    public const string Section = "Portal:ChatSocket";

    /// <summary>A connection with no client frame and no turn running for this long is closed (env <c>SESSION_TIMEOUT</c>, in minutes).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "7.00:00:00")]
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Queries that may wait behind the one being answered; one more is refused with <c>queue_full</c>.</summary>
    [Range(0, 1_000)]
    public int MaxWaitingQueries { get; set; } = 10;

    /// <summary>Longest query accepted, in characters; a longer one is refused with <c>input_too_long</c>.</summary>
    [Range(1, 1_000_000)]
    public int MaxQueryLength { get; set; } = 32_000;
}
