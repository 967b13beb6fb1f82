using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Portal.Testing.Fakes;

/// <summary>How the fake CES upstream behaves on a connection.</summary>
public enum UpstreamMode
{
    /// <summary>Answers like CES: realtimeInput.text gets recognitionResult, sessionOutput (text and binary) and turnCompleted.</summary>
    Ces,
    /// <summary>Sends every message back as it came (type and bytes).</summary>
    Echo,
    /// <summary>Refuses the upgrade with <see cref="FakeCesUpstream.RefuseStatus"/>.</summary>
    Refuse,
    /// <summary>Closes with <see cref="FakeCesUpstream.CloseStatus"/> after the first client message that follows the config.</summary>
    CloseAfterFirstMessage,
    /// <summary>Drops the TCP connection without a close frame after the first client message that follows the config.</summary>
    DieAfterFirstMessage,
}

/// <summary>One connection the fake upstream accepted, as it saw it.</summary>
public sealed class UpstreamConnection
{
    public required IHeaderDictionary Headers { get; init; }
    public required string Path { get; init; }
    public string? FirstFrame { get; set; }
    public ConcurrentQueue<(WebSocketMessageType Type, byte[] Data)> Received { get; } = new();
    public WebSocketCloseStatus? ClosedWith { get; set; }
    public string? ClosedReason { get; set; }
    public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource<WebSocket> Socket { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// A CES Bidi upstream on real Kestrel at 127.0.0.1: a WebSocket endpoint at the CES path that records the headers
/// and frames it gets and answers in CES's frame shapes; plus the text-mode REST endpoint under <c>/v1/</c>.
/// </summary>
public sealed class FakeCesUpstream : IAsyncDisposable
{
    public const string BidiPath = "/ws/google.cloud.ces.v1.SessionService/BidiRunSession/locations/";
    private readonly WebApplication _app;
    private int _open;

    private FakeCesUpstream(WebApplication app)
    {
        _app = app;
        BaseAddress = new Uri(app.Urls.First());
    }

    public Uri BaseAddress { get; }
    public UpstreamMode Mode { get; set; } = UpstreamMode.Ces;
    public int RefuseStatus { get; set; } = StatusCodes.Status403Forbidden;
    public WebSocketCloseStatus CloseStatus { get; set; } = WebSocketCloseStatus.NormalClosure;
    public string CloseReason { get; set; } = "done";
    public ConcurrentQueue<UpstreamConnection> Connections { get; } = new();
    public int OpenConnections => Volatile.Read(ref _open);

    /// <summary>Text-mode requests: method, path with query, headers, body.</summary>
    public ConcurrentQueue<(string Method, string PathAndQuery, IHeaderDictionary Headers, string Body)> TextRequests { get; } = new();

    /// <summary>A delay before text-mode answers, to test timeouts.</summary>
    public TimeSpan TextDelay { get; set; }

    /// <summary>ws://127.0.0.1:port/ws/...BidiRunSession/locations/{location}, for PS_ENDPOINT_TEMPLATE.</summary>
    public string AppsTemplate => $"ws://{BaseAddress.Authority}{BidiPath}{{location}}";

    /// <summary>A second path for the agents (Playbooks) template.</summary>
    public string AgentsTemplate => $"ws://{BaseAddress.Authority}/pbl/{{location}}";

    public static async Task<FakeCesUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        FakeCesUpstream? fake = null;
        app.UseWebSockets();
        app.Map(BidiPath + "{location}", context => fake!.AcceptAsync(context));
        app.Map("/pbl/{location}", context => fake!.AcceptAsync(context));
        app.Map("/v1/{**path}", context => fake!.TextAsync(context));
        await app.StartAsync();
        fake = new FakeCesUpstream(app);
        return fake;
    }

    public async Task<UpstreamConnection> WaitForConnectionAsync(int index = 0, int timeoutSeconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (DateTime.UtcNow < deadline)
        {
            if (Connections.Count > index)
            {
                return Connections.ElementAt(index);
            }
            await Task.Delay(10);
        }
        throw new TimeoutException($"The fake upstream got no connection #{index}.");
    }

    public async Task WaitUntilNoneOpenAsync(int timeoutSeconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (OpenConnections > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{OpenConnections} upstream connections are still open.");
            }
            await Task.Delay(10);
        }
    }

    private async Task AcceptAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = 400;
            return;
        }
        var connection = new UpstreamConnection { Headers = new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value)), Path = context.Request.Path };
        Connections.Enqueue(connection);
        if (Mode == UpstreamMode.Refuse)
        {
            context.Response.StatusCode = RefuseStatus;
            await context.Response.WriteAsync("{\"error\":{\"code\":" + RefuseStatus + ",\"status\":\"PERMISSION_DENIED\"}}");
            connection.Ended.TrySetResult();
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        Interlocked.Increment(ref _open);
        connection.Socket.TrySetResult(socket);
        try
        {
            await ServeAsync(context, socket, connection);
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException)
        {
        }
        finally
        {
            Interlocked.Decrement(ref _open);
            connection.Ended.TrySetResult();
        }
    }

    private async Task ServeAsync(HttpContext context, WebSocket socket, UpstreamConnection connection)
    {
        var buffer = new byte[1024 * 1024];
        var first = true;
        var turn = 0;
        while (true)
        {
            var (type, data) = await ReceiveMessageAsync(socket, buffer);
            if (type == WebSocketMessageType.Close)
            {
                connection.ClosedWith = socket.CloseStatus;
                connection.ClosedReason = socket.CloseStatusDescription;
                if (socket.State == WebSocketState.CloseReceived)
                {
                    await socket.CloseOutputAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, socket.CloseStatusDescription, CancellationToken.None);
                }
                return;
            }
            if (first)
            {
                connection.FirstFrame = Encoding.UTF8.GetString(data);
                first = false;
                continue;
            }
            connection.Received.Enqueue((type, data));
            switch (Mode)
            {
                case UpstreamMode.Echo:
                    await socket.SendAsync(data, type, true, CancellationToken.None);
                    break;
                case UpstreamMode.CloseAfterFirstMessage:
                    await socket.CloseOutputAsync(CloseStatus, CloseReason, CancellationToken.None);
                    break;
                case UpstreamMode.DieAfterFirstMessage:
                    context.Abort();
                    return;
                default:
                    await AnswerLikeCesAsync(socket, type, data, ++turn);
                    break;
            }
        }
    }

    private static async Task AnswerLikeCesAsync(WebSocket socket, WebSocketMessageType type, byte[] data, int turn)
    {
        if (type != WebSocketMessageType.Text)
        {
            return;
        }
        using var json = JsonDocument.Parse(data);
        if (!json.RootElement.TryGetProperty("realtimeInput", out var input))
        {
            return;
        }
        if (input.TryGetProperty("audio", out _))
        {
            if (turn % 4 == 0)
            {
                await SendJsonAsync(socket, new { recognitionResult = new { transcript = "hello", partial = true } }, WebSocketMessageType.Text);
            }
            return;
        }
        if (input.TryGetProperty("text", out var text))
        {
            await SendJsonAsync(socket, new { recognitionResult = new { transcript = text.GetString(), partial = false } }, WebSocketMessageType.Text);
            await SendJsonAsync(socket, new { sessionOutput = new { text = "Hello from CES", turnIndex = turn } }, WebSocketMessageType.Text);
            var pcm = new byte[3200];
            Random.Shared.NextBytes(pcm);
            await SendJsonAsync(socket, new { sessionOutput = new { audio = Convert.ToBase64String(pcm), turnIndex = turn } }, WebSocketMessageType.Binary);
            await SendJsonAsync(socket, new { sessionOutput = new { turnCompleted = true, turnIndex = turn }, diagnosticInfo = new { trace = "internal" } }, WebSocketMessageType.Binary);
            await SendJsonAsync(socket, new { turnCompleted = new { } }, WebSocketMessageType.Text);
        }
    }

    public static Task SendJsonAsync(WebSocket socket, object message, WebSocketMessageType type) =>
        socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(message), type, true, CancellationToken.None);

    public static async Task<(WebSocketMessageType Type, byte[] Data)> ReceiveMessageAsync(WebSocket socket, byte[] buffer)
    {
        var length = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (WebSocketMessageType.Close, []);
            }
            length += result.Count;
            if (result.EndOfMessage)
            {
                return (result.MessageType, buffer.AsSpan(0, length).ToArray());
            }
        }
    }

    private async Task TextAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync();
        TextRequests.Enqueue((context.Request.Method, context.Request.Path + context.Request.QueryString,
            new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value)), body));
        if (TextDelay > TimeSpan.Zero)
        {
            await Task.Delay(TextDelay, context.RequestAborted);
        }
        context.Response.Headers["X-Ces-Fake"] = "1";
        context.Response.Headers["Set-Cookie"] = "upstream=1";
        await context.Response.WriteAsJsonAsync(new { outputs = new[] { new { text = "Hello from CES (text mode)" } } });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
