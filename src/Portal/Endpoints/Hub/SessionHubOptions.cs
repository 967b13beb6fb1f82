using System.ComponentModel.DataAnnotations;

namespace Portal.Endpoints.Hub;

/// <summary><c>Portal:Hub</c>: limits and timeouts of the participant hub at <c>/hubs/session</c>.</summary>
public sealed class SessionHubOptions : IValidatableObject
{
    public const string Section = "Portal:Hub";

    /// <summary>Largest hub message a client may send (SignalR's MaximumReceiveMessageSize); a bigger one closes that connection.</summary>
    [Range(4_096, 16 * 1024 * 1024)]
    public int MaxMessageBytes { get; set; } = 256 * 1024;

    /// <summary>Largest event, as stored JSON, that Send accepts; a bigger one is refused with <c>event_too_large</c> and the connection stays.</summary>
    [Range(256, 16 * 1024 * 1024)]
    public int MaxEventBytes { get; set; } = 64 * 1024;

    /// <summary>How often the server pings a connection it has sent nothing to (SignalR's KeepAliveInterval).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A connection from which nothing, not even a ping, arrived for this long is dropped (SignalR's ClientTimeoutInterval).</summary>
    [Range(typeof(TimeSpan), "00:00:02", "01:00:00")]
    public TimeSpan ClientTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time a new connection has to complete the SignalR handshake.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Event types Send accepts; empty accepts every well-formed type that is not one of Portal's own.</summary>
    public List<string> EventTypes { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (ClientTimeout < KeepAliveInterval * 2)
        {
            yield return new ValidationResult(
                $"{Section}:{nameof(ClientTimeout)} ({ClientTimeout}) must be at least twice {Section}:{nameof(KeepAliveInterval)} ({KeepAliveInterval}), or connections are dropped between two pings.",
                [nameof(ClientTimeout)]);
        }
        if (MaxEventBytes > MaxMessageBytes)
        {
            yield return new ValidationResult(
                $"{Section}:{nameof(MaxEventBytes)} ({MaxEventBytes}) must not exceed {Section}:{nameof(MaxMessageBytes)} ({MaxMessageBytes}): a message carrying such an event would close the connection instead.",
                [nameof(MaxEventBytes)]);
        }
        foreach (var type in EventTypes)
        {
            if (!HubEventReader.IsWellFormedType(type))
            {
                yield return new ValidationResult(
                    $"{Section}:{nameof(EventTypes)}: '{type}' is not a valid event type (1 to {HubEventReader.MaxTypeLength} letters, digits and . _ - : /, starting with a letter or digit).",
                    [nameof(EventTypes)]);
            }
            else if (HubEventReader.IsReserved(type))
            {
                yield return new ValidationResult(
                    $"{Section}:{nameof(EventTypes)}: '{type}' is one of Portal's own event types and cannot be sent by participants.", [nameof(EventTypes)]);
            }
        }
    }
}
