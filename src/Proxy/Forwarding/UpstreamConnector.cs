using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.Options;
using Portal.Proxy.Configuration;

namespace Portal.Proxy.Forwarding;

/// <summary>The result of connecting to the upstream: an open socket, or why there is none.</summary>
internal readonly record struct UpstreamConnection(ClientWebSocket? Socket, string? Failure, HttpStatusCode? Status)
{
    public bool IsOpen => Socket is not null;
}

/// <summary>
/// Opens the upstream WebSocket with the headers CES expects: <c>Authorization: Bearer</c>, <c>Content-Type</c>
/// and, when known, <c>X-Goog-User-Project</c>. Connections share one <see cref="SocketsHttpHandler"/>.
/// </summary>
internal sealed class UpstreamConnector(IOptions<CesProxyOptions> options) : IDisposable
{
    private readonly HttpMessageInvoker _invoker = new(new ContentTypeHandler(new SocketsHttpHandler
    {
        ConnectTimeout = options.Value.UpstreamConnectTimeout,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        UseCookies = false,
        AllowAutoRedirect = false,
    }));

    public async Task<UpstreamConnection> ConnectAsync(Uri upstream, string token, string? project, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + token);
        if (!string.IsNullOrEmpty(project))
        {
            socket.Options.SetRequestHeader("X-Goog-User-Project", project);
        }
        socket.Options.KeepAliveInterval = settings.KeepAliveInterval;
        if (settings.KeepAliveInterval > TimeSpan.Zero && settings.KeepAliveTimeout > TimeSpan.Zero)
        {
            socket.Options.KeepAliveTimeout = settings.KeepAliveTimeout;
        }
        socket.Options.CollectHttpResponseDetails = true;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.UpstreamConnectTimeout);
        try
        {
            await socket.ConnectAsync(upstream, _invoker, timeout.Token);
            return new UpstreamConnection(socket, null, null);
        }
        catch (Exception ex) when (ex is WebSocketException or HttpRequestException or OperationCanceledException or IOException)
        {
            var status = socket.HttpStatusCode is 0 or HttpStatusCode.SwitchingProtocols ? (HttpStatusCode?)null : socket.HttpStatusCode;
            socket.Dispose();
            var failure = status is { } refused
                ? $"{CloseFrames.UpstreamUnavailable} (HTTP {(int)refused})"
                : cancellationToken.IsCancellationRequested ? "Cancelled" : CloseFrames.UpstreamUnavailable;
            return new UpstreamConnection(null, failure, status);
        }
    }

    public void Dispose() => _invoker.Dispose();

    /// <summary>
    /// The reference sends <c>Content-Type: application/json</c> on the upgrade request. HttpClient keeps content
    /// headers on content only, so the body-less GET gets an empty content that carries the header.
    /// </summary>
    private sealed class ContentTypeHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Content ??= new ByteArrayContent([]);
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            return base.SendAsync(request, cancellationToken);
        }
    }
}
