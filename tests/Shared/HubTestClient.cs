using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Portal.Testing;

/// <summary>A server-to-client invocation (SignalR message type 1): a callback such as <c>message</c> or <c>error</c>.</summary>
public sealed record HubCallback(string Target, JsonElement[] Arguments)
{
    public JsonElement Argument => Arguments[0];
}

/// <summary>The answer to an invocation (type 3): its result, or the error message the server sent.</summary>
public sealed record HubCompletion(string InvocationId, JsonElement Result, string? Error)
{
    public bool Failed => Error is not null;
}

/// <summary>
/// A SignalR client speaking the JSON hub protocol over a raw <see cref="ClientWebSocket"/>, since the .NET SignalR
/// client cannot be restored here: negotiate (POST <c>{path}/negotiate?negotiateVersion=1</c>), connect with
/// <c>id=connectionToken</c>, handshake <c>{"protocol":"json","version":1}</c>, then records separated by 0x1E:
/// invocations (1), completions (3), pings (6), close (7).
/// </summary>
public sealed class HubTestClient : IAsyncDisposable
{
    public const char RecordSeparator = '\u001e';
    private static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(20);

    private readonly ClientWebSocket _socket;
    private readonly Channel<HubCallback> _callbacks = Channel.CreateUnbounded<HubCallback>();
    private readonly Dictionary<string, TaskCompletionSource<HubCompletion>> _pending = [];
    private readonly TaskCompletionSource<string?> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private readonly List<HubCallback> _received = [];
    private readonly CancellationTokenSource _stop = new();
    private Task _reading = Task.CompletedTask;
    private int _nextId;
    private int _disposed;

    private HubTestClient(ClientWebSocket socket, string connectionId)
    {
        _socket = socket;
        ConnectionId = connectionId;
    }

    public string ConnectionId { get; }

    /// <summary>Every callback received so far, in order.</summary>
    public IReadOnlyList<HubCallback> Received
    {
        get
        {
            lock (_gate)
            {
                return [.. _received];
            }
        }
    }

    /// <summary>The <c>message</c> callbacks received so far.</summary>
    public IReadOnlyList<JsonElement> Messages => [.. Received.Where(c => c.Target == "message").Select(c => c.Argument)];

    /// <summary>The <c>error</c> callbacks received so far.</summary>
    public IReadOnlyList<JsonElement> Errors => [.. Received.Where(c => c.Target == "error").Select(c => c.Argument)];

    public static Uri HubUri(PortalTestServer server, string path = "/hubs/session", string? query = null) =>
        new UriBuilder(server.BaseAddress) { Scheme = "ws", Path = path, Query = query ?? "" }.Uri;

    /// <summary>The negotiate request as a browser's SignalR client sends it.</summary>
    public static Task<HttpResponseMessage> NegotiateAsync(HttpClient http, string path = "/hubs/session") =>
        http.PostAsync($"{path}/negotiate?negotiateVersion=1", content: null, TestContext.Current.CancellationToken);

    /// <summary>Negotiates, opens the WebSocket and completes the handshake, signed in with <paramref name="cookies"/>.</summary>
    public static async Task<HubTestClient> ConnectAsync(PortalTestServer server, CookieContainer cookies, string path = "/hubs/session")
    {
        using var http = server.CreateClient(cookies);
        using var negotiate = await NegotiateAsync(http, path);
        if (negotiate.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"Negotiate answered {(int)negotiate.StatusCode}");
        }
        var body = await negotiate.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        var token = body.GetProperty("connectionToken").GetString()!;
        var socket = new ClientWebSocket();
        socket.Options.Cookies = cookies;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(HubUri(server, path, "id=" + Uri.EscapeDataString(token)), timeout.Token);
        var client = new HubTestClient(socket, body.GetProperty("connectionId").GetString()!);
        await client.SendTextAsync("{\"protocol\":\"json\",\"version\":1}" + RecordSeparator);
        var handshake = await client.ReadRecordsAsync(timeout.Token);
        if (handshake.Count == 0 || handshake[0] != "{}")
        {
            throw new InvalidOperationException($"Handshake failed: {string.Join(" | ", handshake)}");
        }
        client._reading = client.ReadLoopAsync(handshake.Skip(1).ToList());
        return client;
    }

    /// <summary>Invokes <paramref name="method"/> and waits for its completion.</summary>
    public async Task<HubCompletion> InvokeAsync(string method, params object?[] arguments)
    {
        var id = Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture);
        var completion = new TaskCompletionSource<HubCompletion>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _pending[id] = completion;
        }
        await SendTextAsync(JsonSerializer.Serialize(new { type = 1, invocationId = id, target = method, arguments }) + RecordSeparator);
        return await completion.Task.WaitAsync(DefaultWait, TestContext.Current.CancellationToken);
    }

    /// <summary>Invokes <paramref name="method"/> with arguments given as JSON text, sent exactly as written.</summary>
    public async Task<HubCompletion> InvokeJsonAsync(string method, params string[] jsonArguments)
    {
        var id = Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture);
        var completion = new TaskCompletionSource<HubCompletion>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _pending[id] = completion;
        }
        await SendTextAsync($"{{\"type\":1,\"invocationId\":\"{id}\",\"target\":{JsonSerializer.Serialize(method)},\"arguments\":[{string.Join(",", jsonArguments)}]}}" + RecordSeparator);
        return await completion.Task.WaitAsync(DefaultWait, TestContext.Current.CancellationToken);
    }

    /// <summary>Invokes <paramref name="method"/> without an invocation id: no completion comes back.</summary>
    public Task SendAsync(string method, params object?[] arguments) =>
        SendTextAsync(JsonSerializer.Serialize(new { type = 1, target = method, arguments }) + RecordSeparator);

    /// <summary>Sends <paramref name="text"/> as one WebSocket text message, exactly as given.</summary>
    public async Task SendTextAsync(string text)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
    }

    /// <summary>Waits for the next callback to <paramref name="target"/> whose argument matches; earlier ones stay in <see cref="Received"/>.</summary>
    public async Task<JsonElement> WaitForAsync(string target, Func<JsonElement, bool>? match = null, TimeSpan? timeout = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout ?? DefaultWait);
        try
        {
            while (true)
            {
                var callback = await _callbacks.Reader.ReadAsync(cts.Token);
                if (callback.Target == target && (match is null || match(callback.Argument)))
                {
                    return callback.Argument;
                }
            }
        }
        catch (OperationCanceledException ex) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"No '{target}' callback arrived in time. Got: {string.Join(", ", Received.Select(c => $"{c.Target}:{c.Argument.GetRawText()}"))}", ex);
        }
        catch (ChannelClosedException ex)
        {
            throw new InvalidOperationException($"The connection closed ({await _closed.Task}) before a '{target}' callback arrived.", ex);
        }
    }

    /// <summary>Waits for the <c>message</c> carrying the event of seq <paramref name="seq"/>.</summary>
    public Task<JsonElement> WaitForMessageAsync(long seq) => WaitForAsync("message", m => m.GetProperty("seq").GetInt64() == seq);

    /// <summary>Waits until nothing more arrives for <paramref name="quiet"/>; returns what arrived meanwhile.</summary>
    public async Task<IReadOnlyList<HubCallback>> DrainAsync(TimeSpan quiet)
    {
        var drained = new List<HubCallback>();
        while (true)
        {
            using var cts = new CancellationTokenSource(quiet);
            try
            {
                drained.Add(await _callbacks.Reader.ReadAsync(cts.Token));
            }
            catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
            {
                return drained;
            }
        }
    }

    /// <summary>Waits until the server closes the connection; returns the error of its close message, if any.</summary>
    public Task<string?> WaitForCloseAsync(TimeSpan? timeout = null) =>
        _closed.Task.WaitAsync(timeout ?? DefaultWait, TestContext.Current.CancellationToken);

    public bool IsClosed => _closed.Task.IsCompleted;

    /// <summary>Drops the connection without a close handshake, as a lost network does.</summary>
    public async Task AbortAsync()
    {
        _socket.Abort();
        await _stop.CancelAsync();
        await _reading;
    }

    private async Task ReadLoopAsync(List<string> first)
    {
        string? closeError = null;
        try
        {
            foreach (var record in first)
            {
                closeError ??= Dispatch(record);
            }
            while (!_stop.IsCancellationRequested)
            {
                var records = await ReadRecordsAsync(_stop.Token);
                if (records.Count == 0)
                {
                    break; // the server closed the socket
                }
                foreach (var record in records)
                {
                    if (Dispatch(record) is { } error)
                    {
                        closeError = error;
                    }
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            closeError ??= "connection lost";
        }
        finally
        {
            _callbacks.Writer.TryComplete();
            lock (_gate)
            {
                foreach (var pending in _pending.Values)
                {
                    pending.TrySetException(new InvalidOperationException("The connection closed before the completion arrived."));
                }
            }
            _closed.TrySetResult(closeError);
        }
    }

    /// <summary>Handles one record; returns the error text of a close message (or "" for a close without error).</summary>
    private string? Dispatch(string record)
    {
        using var document = JsonDocument.Parse(record);
        var root = document.RootElement;
        switch (root.GetProperty("type").GetInt32())
        {
            case 1:
                var callback = new HubCallback(root.GetProperty("target").GetString()!, [.. root.GetProperty("arguments").EnumerateArray().Select(a => a.Clone())]);
                lock (_gate)
                {
                    _received.Add(callback);
                }
                _callbacks.Writer.TryWrite(callback);
                return null;
            case 3:
                var id = root.GetProperty("invocationId").GetString()!;
                var completion = new HubCompletion(id,
                    root.TryGetProperty("result", out var result) ? result.Clone() : default,
                    root.TryGetProperty("error", out var error) ? error.GetString() : null);
                lock (_gate)
                {
                    if (_pending.Remove(id, out var pending))
                    {
                        pending.TrySetResult(completion);
                    }
                }
                return null;
            case 7:
                return root.TryGetProperty("error", out var reason) ? reason.GetString() : "";
            default:
                return null; // pings
        }
    }

    /// <summary>Reads one WebSocket message and splits it into records; none when the server closed.</summary>
    private async Task<List<string>> ReadRecordsAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await _socket.ReceiveAsync(buffer.AsMemory(), cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return [];
            }
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage && message.Length > 0 && message.GetBuffer()[message.Length - 1] == RecordSeparator)
            {
                break;
            }
        }
        return [.. Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length).Split(RecordSeparator, StringSplitOptions.RemoveEmptyEntries)];
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        if (_socket.State == WebSocketState.Open)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or InvalidOperationException)
            {
            }
        }
        await _stop.CancelAsync();
        try
        {
            await _reading.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
        }
        _socket.Dispose();
        _stop.Dispose();
    }
}
