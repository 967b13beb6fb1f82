using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Portal.Testing.Fakes;

/// <summary>
/// A client that behaves like Google's ces-messenger widget: it connects with an Origin, sends the config message,
/// the initial text message and then 128 ms audio chunks (4096 bytes of 16 kHz PCM16LE, base64 in JSON).
/// </summary>
public sealed class WidgetClient : IAsyncDisposable
{
    public const string AppSession = "projects/test-project/locations/us/apps/app-1/sessions/6f1c2d3e-0000-4000-8000-000000000001";
    public const string AgentSession = "projects/test-project/locations/global/agents/agent-1/sessions/6f1c2d3e-0000-4000-8000-000000000002";
    private readonly byte[] _buffer = new byte[4 * 1024 * 1024];

    private WidgetClient(ClientWebSocket socket) => Socket = socket;

    public ClientWebSocket Socket { get; }

    public static async Task<WidgetClient> ConnectAsync(Uri uri, string? origin = "https://shop.example.com", CancellationToken cancellationToken = default)
    {
        var socket = new ClientWebSocket();
        if (origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", origin);
        }
        socket.Options.CollectHttpResponseDetails = true;
        await socket.ConnectAsync(uri, cancellationToken);
        return new WidgetClient(socket);
    }

    public static object Config(string session = AppSession, string? accessToken = null, string? environment = null, string wrapper = "config")
    {
        var config = new Dictionary<string, object?>
        {
            ["session"] = session,
            ["inputAudioConfig"] = new { audioEncoding = "LINEAR16", sampleRateHertz = 16000 },
            ["outputAudioConfig"] = new { audioEncoding = "LINEAR16", sampleRateHertz = 16000 },
            ["deployment"] = "projects/test-project/locations/us/apps/app-1/deployments/d-1",
        };
        if (accessToken is not null)
        {
            config["accessToken"] = accessToken;
        }
        if (environment is not null)
        {
            config["environment"] = environment;
        }
        return new Dictionary<string, object> { [wrapper] = config };
    }

    public Task SendConfigAsync(string session = AppSession, string? accessToken = null, string? environment = null, string wrapper = "config") =>
        SendJsonAsync(Config(session, accessToken, environment, wrapper));

    public Task SendTextAsync(string text) => SendJsonAsync(new { realtimeInput = new { text } });

    public Task SendAudioChunkAsync(byte fill = 0)
    {
        var pcm = new byte[4096];
        Array.Fill(pcm, fill);
        return SendJsonAsync(new { realtimeInput = new { audio = Convert.ToBase64String(pcm) } });
    }

    public Task SendJsonAsync(object message) => SendRawAsync(JsonSerializer.SerializeToUtf8Bytes(message), WebSocketMessageType.Text);

    public Task SendRawAsync(byte[] data, WebSocketMessageType type) => Socket.SendAsync(data, type, true, CancellationToken.None);

    /// <summary>The next message, or the close (Type = Close) when the proxy closes.</summary>
    public async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveAsync(int timeoutSeconds = 10)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        var length = 0;
        while (true)
        {
            var result = await Socket.ReceiveAsync(_buffer.AsMemory(length), timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (WebSocketMessageType.Close, []);
            }
            length += result.Count;
            if (result.EndOfMessage)
            {
                return (result.MessageType, _buffer.AsSpan(0, length).ToArray());
            }
        }
    }

    public async Task<JsonElement> ReceiveJsonAsync(int timeoutSeconds = 10)
    {
        var (type, data) = await ReceiveAsync(timeoutSeconds);
        if (type == WebSocketMessageType.Close)
        {
            throw new InvalidOperationException($"Closed instead: {Socket.CloseStatus} {Socket.CloseStatusDescription}");
        }
        return JsonDocument.Parse(data).RootElement.Clone();
    }

    /// <summary>Reads until the close arrives; returns the messages seen before it, and the close.</summary>
    public async Task<(List<string> Before, WebSocketCloseStatus? Status, string? Reason)> ReceiveUntilCloseAsync(int timeoutSeconds = 10)
    {
        var before = new List<string>();
        while (true)
        {
            var (type, data) = await ReceiveAsync(timeoutSeconds);
            if (type == WebSocketMessageType.Close)
            {
                if (Socket.State == WebSocketState.CloseReceived)
                {
                    await Socket.CloseOutputAsync(Socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                }
                return (before, Socket.CloseStatus, Socket.CloseStatusDescription);
            }
            before.Add(Encoding.UTF8.GetString(data));
        }
    }

    public async ValueTask DisposeAsync()
    {
        Socket.Abort();
        Socket.Dispose();
        await Task.CompletedTask;
    }
}
