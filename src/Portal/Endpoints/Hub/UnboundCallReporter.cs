using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Portal.Security;
// Portal.Endpoints.Hub has a HubMessage of its own: the message callback's payload.
using ProtocolMessage = Microsoft.AspNetCore.SignalR.Protocol.HubMessage;

namespace Portal.Endpoints.Hub;

/// <summary>
/// The hub protocol of one <c>/hubs/session</c> connection, passed through unchanged, watching for calls SignalR cannot
/// bind: an unknown method, or arguments of the wrong number or type. The protocol turns those into an
/// <see cref="InvocationBindingFailureMessage"/>, which SignalR's dispatcher answers with an error completion before any
/// hub filter runs, logging it only at Debug. Here the first one on a connection is a warning naming the method, the
/// connection and its user, and SignalR's reason; later ones on the same connection are Debug, so a client repeating a
/// bad call cannot fill the log. Arguments are never logged: binding failed, so nothing of them is at hand, and of the
/// reason only SignalR's own fixed wording is used, never an inner exception's text, which may quote what was sent.
/// Such a call still counts against the connection's message rate, as any other: a client repeating it past the rate
/// until the flood limit is closed, as a flood of good calls is (the hub filter that applies the rate never sees it).
/// </summary>
internal sealed partial class UnboundCallReporter(
    IHubProtocol inner, HubConnectionContext connection, HubParticipants participants, ILogger<UnboundCallReporter> logger) : IHubProtocol
{
    private const int MaxMethodLength = 100;
    private int _reported;

    public string Name => inner.Name;
    public int Version => inner.Version;
    public TransferFormat TransferFormat => inner.TransferFormat;

    public bool IsVersionSupported(int version) => inner.IsVersionSupported(version);

    public void WriteMessage(ProtocolMessage message, IBufferWriter<byte> output) => inner.WriteMessage(message, output);

    public ReadOnlyMemory<byte> GetMessageBytes(ProtocolMessage message) => inner.GetMessageBytes(message);

    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [NotNullWhen(true)] out ProtocolMessage? message)
    {
        if (!inner.TryParseMessage(ref input, binder, out message))
        {
            return false;
        }
        if (message is InvocationBindingFailureMessage failure)
        {
            Report(failure);
            CountAgainstTheRate();
        }
        return true;
    }

    /// <summary>Takes the call from the connection's bucket; past the flood limit the connection is closed.</summary>
    private void CountAgainstTheRate()
    {
        if (participants.Find(connection.ConnectionId) is not { } participant || participant.TryAdmit(out var flooding, out var refused) || !flooding)
        {
            return;
        }
        Log.Flooding(logger, connection.ConnectionId, refused);
        connection.Abort();
    }

    private void Report(InvocationBindingFailureMessage failure)
    {
        var method = Printable(failure.Target);
        var reason = Reason(failure.BindingFailure.SourceException);
        var userId = connection.User.UserId() ?? "none";
        if (Interlocked.Exchange(ref _reported, 1) == 0)
        {
            Log.Unbound(logger, method, connection.ConnectionId, userId, reason);
        }
        else
        {
            Log.UnboundAgain(logger, method, connection.ConnectionId, userId, reason);
        }
    }

    /// <summary>
    /// SignalR's reason in its own fixed words ("Method does not exist.", "Invocation provides 2 argument(s) but target
    /// expects 1.", "Error binding arguments. ..."); for anything else, only the exception's type.
    /// </summary>
    private static string Reason(Exception exception) => exception switch
    {
        HubException or InvalidDataException => exception.Message,
        _ => exception.GetType().Name,
    };

    /// <summary>The method name as the client sent it, shortened, with control characters replaced so it cannot forge log lines.</summary>
    private static string Printable(string method)
    {
        var shown = method.Length <= MaxMethodLength ? method : method[..MaxMethodLength] + "\u2026";
        return string.Create(shown.Length, shown, static (span, text) =>
        {
            for (var i = 0; i < text.Length; i++)
            {
                span[i] = char.IsControl(text[i]) ? '?' : text[i];
            }
        });
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning,
            "Hub call {Method} of connection {ConnectionId} (user {UserId}) could not be bound, and SignalR answered it with an error: {Reason} " +
            "Further ones on this connection are logged at Debug.")]
        public static partial void Unbound(ILogger logger, string method, string connectionId, string userId, string reason);

        [LoggerMessage(2, LogLevel.Debug, "Hub call {Method} of connection {ConnectionId} (user {UserId}) could not be bound: {Reason}")]
        public static partial void UnboundAgain(ILogger logger, string method, string connectionId, string userId, string reason);

        [LoggerMessage(3, LogLevel.Warning, "Connection {ConnectionId} kept sending calls that cannot be bound past its rate ({Refused} refused in ten seconds); closing it")]
        public static partial void Flooding(ILogger logger, string connectionId, int refused);
    }
}
