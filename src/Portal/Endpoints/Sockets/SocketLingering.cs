using System.Buffers.Binary;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Portal.Endpoints.Sockets;

/// <summary>
/// Lingering close for the program-facing WebSockets (<c>/ws/agent</c>, <c>/ws/chat</c>, <c>/hubs/session</c>): once an
/// endpoint is done with a connection that was sent a close frame, what the client still sends is read and dropped
/// until its own close frame arrives (or it closes TCP, or <see cref="SocketOptions.CloseLinger"/> passes), and only then
/// is the TCP connection closed.
/// <para>
/// Closing a socket with unread data makes Linux answer with a reset instead of a FIN, and data arriving after the close
/// is answered with a reset too; a client that receives the reset before it has read the close frame loses the frame,
/// and with it the reason. The endpoints read to the client's close themselves when they close, but two closes are
/// not theirs to finish: .NET's WebSocket answers a text message that is not UTF-8 with 1007 and aborts the socket at
/// once, and SignalR stops reading as soon as the hub is done with a connection. Measured by <c>FuzzTests</c>: about
/// one fuzzed connection in two ended in a reset, and in one in eight the client never saw the close.
/// </para>
/// </summary>
public static class SocketLingering
{
    /// <summary>Paths whose WebSocket connections linger. Not <c>/ces</c>: the CES proxy closes its connections itself.</summary>
    public static readonly IReadOnlyList<PathString> Paths = ["/ws", "/hubs"];

    /// <summary>Goes before <c>UseWebSockets</c>, which takes the connection's upgrade feature as it finds it.</summary>
    public static IApplicationBuilder UseSocketLingering(this IApplicationBuilder app) =>
        app.Use(static async (context, next) =>
        {
            var linger = context.RequestServices.GetRequiredService<IOptions<SocketOptions>>().Value.CloseLinger;
            if (linger <= TimeSpan.Zero || !Paths.Any(p => context.Request.Path.StartsWithSegments(p))
                || context.Features.Get<IHttpUpgradeFeature>() is not { IsUpgradableRequest: true } upgrade
                || context.Features.Get<IHttpRequestLifetimeFeature>() is not { } lifetime)
            {
                await next(context);
                return;
            }
            // Disposed after the endpoint: the lingering, then the end of the request.
            await using var lingering = new LingeringUpgrade(upgrade, lifetime, linger, context.RequestServices.GetRequiredService<TimeProvider>());
            context.Features.Set<IHttpUpgradeFeature>(lingering);
            context.Features.Set<IHttpRequestLifetimeFeature>(lingering);
            await next(context);
        });

    /// <summary>
    /// The server's upgrade, handing the WebSocket a stream that outlives its disposal, and the request's lifetime, whose
    /// abort waits for the lingering when a close frame went out. ASP.NET Core's WebSocket middleware aborts the
    /// request as soon as the WebSocket is aborted (its <c>AbortStream</c>, a workaround for dotnet/runtime#44272), and a
    /// .NET WebSocket aborts itself right after it has sent 1007 for a message that is not UTF-8: Kestrel then drops
    /// the close frame still in its output and resets the connection.
    /// </summary>
    private sealed class LingeringUpgrade(IHttpUpgradeFeature upgrade, IHttpRequestLifetimeFeature lifetime, TimeSpan linger, TimeProvider time)
        : IHttpUpgradeFeature, IHttpRequestLifetimeFeature, IAsyncDisposable
    {
        private readonly CancellationTokenSource _aborted = CancellationTokenSource.CreateLinkedTokenSource(lifetime.RequestAborted);
        private LingeringStream? _stream;

        public bool IsUpgradableRequest => upgrade.IsUpgradableRequest;

        public CancellationToken RequestAborted
        {
            get => _aborted.Token;
            set => throw new NotSupportedException("The lifetime of a lingering WebSocket request is its own.");
        }

        public async Task<Stream> UpgradeAsync()
        {
            _stream = new LingeringStream(await upgrade.UpgradeAsync());
            return _stream;
        }

        /// <summary>
        /// Aborts the request, unless a close frame went out and nothing is being written (a client that does not read
        /// cannot be waited for): then the endpoint is told (<see cref="RequestAborted"/>) and the connection stays for
        /// the lingering, which ends it.
        /// </summary>
        public void Abort()
        {
            if (_stream is { CloseSent: true, Writing: false })
            {
                _ = _aborted.CancelAsync(); // not inline: the WebSocket calls this holding its own lock
                return;
            }
            lifetime.Abort();
        }

        /// <summary>
        /// Lingers, then lets the request end as any other does: Kestrel sends what is left of its output, then a FIN
        /// (or a reset, if the client is still sending after the linger).
        /// </summary>
        public async ValueTask DisposeAsync()
        {
            try
            {
                if (_stream is not null)
                {
                    await _stream.LingerAsync(linger, time);
                }
            }
            finally
            {
                _aborted.Dispose();
                if (_stream is not null)
                {
                    await _stream.DisposeAsync();
                }
            }
        }
    }
}

/// <summary>
/// The upgraded connection as the WebSocket sees it. It follows the frames in both directions (only their headers: a
/// close frame sent, a close frame received), and disposing it only ends the WebSocket's use of it: a pending read is
/// cancelled, the connection stays open for <see cref="LingerAsync"/>.
/// </summary>
internal sealed class LingeringStream(Stream inner) : Stream
{
    private readonly FrameTracker _received = new(masked: true);
    private readonly FrameTracker _sent = new(masked: false);
    private readonly CancellationTokenSource _released = new();
    private readonly SemaphoreSlim _reading = new(1, 1);
    private CancellationToken _linkedFor;
    private CancellationTokenSource? _linked;
    private bool _endOfStream;
    private bool _done;
    private int _writing;

    /// <summary>The client's close frame has arrived: it sends nothing after it.</summary>
    public bool CloseReceived => _received.CloseSeen;

    /// <summary>A close frame has gone out: the client will answer it with its own.</summary>
    public bool CloseSent => _sent.CloseSeen;

    /// <summary>A write is under way: when it does not finish, the client has stopped reading.</summary>
    public bool Writing => Volatile.Read(ref _writing) > 0;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_released.IsCancellationRequested, this);
        await _reading.WaitAsync(cancellationToken);
        try
        {
            int read;
            try
            {
                read = await inner.ReadAsync(buffer, Token(cancellationToken));
            }
            catch (OperationCanceledException) when (_released.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new ObjectDisposedException(nameof(LingeringStream)); // what a read of a disposed stream ends with
            }
            _received.Observe(buffer.Span[..read]);
            _endOfStream |= read == 0 && buffer.Length > 0;
            return read;
        }
        finally
        {
            _reading.Release();
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _writing);
        try
        {
            _sent.Observe(buffer.Span);
            await inner.WriteAsync(buffer, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _writing);
        }
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _writing);
        try
        {
            await inner.FlushAsync(cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _writing);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Flush() => inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>The WebSocket is done with the connection (it disposes its stream when it closes or aborts): a read it left pending ends.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_done)
        {
            _released.Cancel();
        }
        base.Dispose(disposing);
    }

    /// <summary>
    /// After the endpoint has returned: when a close frame went out and the client's has not come yet, reads and drops
    /// what the client sends until it does (or closes the connection, or <paramref name="limit"/> passes).
    /// </summary>
    public async Task LingerAsync(TimeSpan limit, TimeProvider time)
    {
        _released.Cancel();
        try
        {
            await _reading.WaitAsync(CancellationToken.None);
            if (!CloseSent || CloseReceived || _endOfStream)
            {
                return;
            }
            using var deadline = new CancellationTokenSource(limit, time);
            var buffer = new byte[16 * 1024];
            while (!CloseReceived)
            {
                var read = await inner.ReadAsync(buffer, deadline.Token);
                if (read == 0)
                {
                    return;
                }
                _received.Observe(buffer.AsSpan(0, read));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The limit passed, or the connection is gone already: nothing more to wait for.
        }
        finally
        {
            _done = true;
            _linked?.Dispose();
            _released.Dispose();
            _reading.Dispose();
            await inner.DisposeAsync();
        }
    }

    /// <summary>The caller's token together with the disposal's, one linked source per caller token (the WebSocket passes the same one each time).</summary>
    private CancellationToken Token(CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return _released.Token;
        }
        if (_linked is null || _linkedFor != cancellationToken)
        {
            _linked?.Dispose();
            _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _released.Token);
            _linkedFor = cancellationToken;
        }
        return _linked.Token;
    }
}

/// <summary>
/// Follows the WebSocket frames (RFC 6455 5.2) in a stream of bytes, whatever the chunks: only headers are looked at,
/// payloads are skipped by their length. Notes when a close frame (opcode 8) has come by.
/// </summary>
internal sealed class FrameTracker(bool masked)
{
    private readonly byte[] _header = new byte[14];
    private int _headerLength;
    private long _payloadLeft;
    private bool _inClose;

    /// <summary>A whole close frame, its payload included, has come by.</summary>
    public bool CloseSeen { get; private set; }

    public void Observe(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty && !CloseSeen)
        {
            if (_payloadLeft > 0)
            {
                var skip = (int)Math.Min(_payloadLeft, data.Length);
                _payloadLeft -= skip;
                data = data[skip..];
                CloseSeen = _inClose && _payloadLeft == 0;
                continue;
            }
            _header[_headerLength++] = data[0];
            data = data[1..];
            if (_headerLength < 2)
            {
                continue;
            }
            var length7 = _header[1] & 0x7F;
            var needed = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + (masked ? 4 : 0);
            if (_headerLength < needed)
            {
                continue;
            }
            _inClose = (_header[0] & 0x0F) == 0x8;
            _payloadLeft = length7 switch
            {
                126 => (_header[2] << 8) | _header[3],
                127 => (long)(BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(2, 8)) & long.MaxValue),
                _ => length7,
            };
            _headerLength = 0;
            CloseSeen = _inClose && _payloadLeft == 0;
        }
    }
}
