using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Portal.Testing;

/// <summary>A frame of the agent protocol as a client receives it.</summary>
public sealed record AgentFrame(string Id, string Type, JsonElement Payload)
{
    /// <summary>The seq of the session event that carried the frame (the number after the last '-' of its id).</summary>
    public long Seq => long.Parse(Id[(Id.LastIndexOf('-') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    public string? Text(string name) => Payload.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>A raw <see cref="ClientWebSocket"/> speaking <c>/ws/agent</c> (seed 001 frames), signed in with a cookie.</summary>
public sealed class AgentSocketClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly byte[] _buffer = new byte[1 << 20];
    private int _nextId;

    private AgentSocketClient(ClientWebSocket socket) => _socket = socket;

    public List<AgentFrame> Received { get; } = [];
    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;
    public string? CloseReason => _socket.CloseStatusDescription;
    public string? SessionId { get; private set; }

    /// <summary>Signs in through the real form and returns the cookies, for WebSocket clients.</summary>
    public static async Task<CookieContainer> SignInAsync(PortalTestServer server, string email, string password = PortalTestServer.Password)
    {
        var cookies = new CookieContainer();
        using var http = server.CreateClient(cookies);
        using var response = await PortalTestServer.PostSignInFormAsync(http, email, password);
        if (response.StatusCode != HttpStatusCode.Redirect)
        {
            throw new InvalidOperationException($"Sign-in of {email} failed: {(int)response.StatusCode}");
        }
        return cookies;
    }

    /// <summary>Signs in through the real form of the Portal at <paramref name="baseAddress"/> (one in a process of its own, too).</summary>
    public static async Task<CookieContainer> SignInAsync(Uri baseAddress, string email, string password)
    {
        var cookies = new CookieContainer();
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false, UseCookies = true })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromSeconds(30),
        };
        using var response = await PortalTestServer.PostSignInFormAsync(http, email, password);
        if (response.StatusCode != HttpStatusCode.Redirect)
        {
            throw new InvalidOperationException($"Sign-in of {email} failed: {(int)response.StatusCode}");
        }
        return cookies;
    }

    public static Task<AgentSocketClient> ConnectAsync(PortalTestServer server, CookieContainer cookies, string query = "") =>
        ConnectAsync(server.BaseAddress, cookies, query);

    public static Task<AgentSocketClient> ConnectAsync(Uri baseAddress, CookieContainer cookies, string query = "") =>
        ConnectAsync(baseAddress, options => options.Cookies = cookies, query);

    /// <summary>Connects with an API token: as a Bearer header, or as a browser must, in the <c>access_token</c> query parameter.</summary>
    public static Task<AgentSocketClient> ConnectWithTokenAsync(PortalTestServer server, string token, bool inQuery = false, string query = "") =>
        inQuery
            ? ConnectAsync(server.BaseAddress, _ => { }, (query.Length > 0 ? query + "&" : "") + "access_token=" + Uri.EscapeDataString(token))
            : ConnectAsync(server.BaseAddress, options => options.SetRequestHeader("Authorization", "Bearer " + token), query);

    private static async Task<AgentSocketClient> ConnectAsync(Uri baseAddress, Action<ClientWebSocketOptions> configure, string query)
    {
        var socket = new ClientWebSocket();
        configure(socket.Options);
        var uri = new UriBuilder(baseAddress) { Scheme = "ws", Path = "/ws/agent", Query = query }.Uri;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(uri, timeout.Token);
        var client = new AgentSocketClient(socket);
        var started = await client.WaitForAsync("session_started");
        client.SessionId = started.Text("sessionId");
        return client;
    }

    public Task SendAsync(string type, object? payload = null) =>
        SendRawAsync(JsonSerializer.Serialize(new { id = "c" + Interlocked.Increment(ref _nextId), type, payload }));

    public Task SendInputAsync(string text, bool cancelCurrent = false) =>
        SendAsync("user_input", new
        {
            input = new[] { new { type = "message", role = "user", content = new[] { new { type = "input_text", text } } } },
            cancelCurrent,
        });

    public Task SendRawAsync(string text) => SendBytesAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    public async Task SendBytesAsync(byte[] bytes, WebSocketMessageType type)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _socket.SendAsync(bytes, type, endOfMessage: true, timeout.Token);
    }

    /// <summary>Reads frames until one of <paramref name="type"/> matching <paramref name="match"/> arrives; every frame read is kept in <see cref="Received"/>.</summary>
    public async Task<AgentFrame> WaitForAsync(string type, Func<AgentFrame, bool>? match = null, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            AgentFrame? frame;
            try
            {
                frame = await ReceiveAsync(cts.Token);
            }
            catch (OperationCanceledException ex)
            {
                throw new TimeoutException($"No '{type}' frame arrived in time. Got: {string.Join(", ", Received.Select(f => $"{f.Seq}:{f.Type}"))}", ex);
            }
            frame = frame
                ?? throw new InvalidOperationException($"The connection closed ({CloseStatus} {CloseReason}) before a '{type}' frame arrived. Got: {string.Join(", ", Received.Select(f => f.Type))}");
            if (frame.Type == type && (match is null || match(frame)))
            {
                return frame;
            }
        }
    }

    /// <summary>The next frame, or null when the server closed the connection.</summary>
    public async Task<AgentFrame?> ReceiveAsync(CancellationToken cancellationToken)
    {
        var count = 0;
        while (true)
        {
            var result = await _socket.ReceiveAsync(_buffer.AsMemory(count), cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }
            count += result.Count;
            if (result.EndOfMessage)
            {
                break;
            }
        }
        using var document = JsonDocument.Parse(_buffer.AsMemory(0, count));
        var root = document.RootElement;
        var frame = new AgentFrame(root.GetProperty("id").GetString()!, root.GetProperty("type").GetString()!, root.GetProperty("payload").Clone());
        Received.Add(frame);
        return frame;
    }

    /// <summary>Reads until the server closes; returns the close status.</summary>
    public async Task<WebSocketCloseStatus?> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        try
        {
            while (await ReceiveAsync(cts.Token) is not null)
            {
            }
            await CloseAsync(); // answer the server's close, as browsers do
        }
        catch (WebSocketException)
        {
            // reset instead of a close handshake
        }
        return _socket.CloseStatus;
    }

    public string Deltas(string? runId = null) => string.Concat(Received
        .Where(f => f.Type == "response_delta" && (runId is null || f.Text("runId") == runId))
        .Select(f => f.Text("delta")));

    public async Task CloseAsync()
    {
        if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        _socket.Dispose();
    }
}
