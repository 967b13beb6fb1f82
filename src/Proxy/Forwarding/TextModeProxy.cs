using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Portal.Proxy.Authentication;
using Portal.Proxy.Telemetry;

namespace Portal.Proxy.Forwarding;

/// <summary>
/// Text mode, as the reference web-proxy: <c>{prefix}/v1/{path}</c> (and <c>{prefix}/{path}</c>, which is what the
/// widget itself requests) go to <c>https://{CES_API_DOMAIN}/v1/{path}</c> with the query; GET and POST only;
/// a token is added when the request has none; hop-by-hop headers and cookies stay behind; CORS headers for allowed
/// origins on the preflight and on the response.
/// </summary>
internal static partial class TextModeProxy
{
    public const string ClientName = "Portal.Proxy.TextMode";

    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Host", "Content-Length",
        // Portal's own cookies and forwarding headers are not the upstream's business (X-Original-*: what ASP.NET Core's
        // forwarded-headers middleware keeps of the proxy's own address and host).
        "Cookie", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
        "X-Original-For", "X-Original-Host", "X-Original-Proto",
    };

    private static readonly HashSet<string> DroppedFromResponse = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Content-Encoding", "Upgrade", "Trailer", "Proxy-Connection",
    };

    public static async Task HandleAsync(HttpContext context, string? path)
    {
        var services = context.RequestServices.GetRequiredService<ProxyServices>();
        var logger = services.Loggers.CreateLogger("Portal.Proxy.Forwarding.TextMode");
        var origin = context.Request.Headers.Origin.Count > 0 ? context.Request.Headers.Origin.ToString() : null;
        var allowed = services.Origins.IsAllowed(origin);
        if (allowed && origin is not null)
        {
            AddCorsHeaders(context.Response.Headers, origin);
        }
        if (HttpMethods.IsOptions(context.Request.Method))
        {
            // As the reference: the preflight always answers 204; without CORS headers the browser stops there.
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }
        if (!allowed)
        {
            Log.OriginRefused(logger, origin ?? "(none)");
            await WritePlainAsync(context, StatusCodes.Status403Forbidden, "Origin not allowed");
            return;
        }
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.Headers.Allow = "GET, POST, OPTIONS";
            await WritePlainAsync(context, StatusCodes.Status405MethodNotAllowed, $"Unsupported method: {context.Request.Method}");
            return;
        }

        var relative = (path ?? "").TrimStart('/');
        if (relative.StartsWith("v1/", StringComparison.Ordinal))
        {
            relative = relative[3..];
        }
        var target = new Uri(services.Settings.TextApiBaseUrl, "/v1/" + relative + context.Request.QueryString);
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), target);
        byte[]? requestBody = null;
        if (HttpMethods.IsPost(context.Request.Method))
        {
            requestBody = await ReadBodyAsync(context.Request, services.Options.MaxMessageBytes, context.RequestAborted);
            if (requestBody is null)
            {
                await WritePlainAsync(context, StatusCodes.Status413PayloadTooLarge, $"Request body over {services.Options.MaxMessageBytes} bytes");
                return;
            }
            request.Content = new ByteArrayContent(requestBody);
        }
        foreach (var (name, values) in context.Request.Headers)
        {
            if (HopByHop.Contains(name))
            {
                continue;
            }
            if (!request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }
        if (!context.Request.Headers.ContainsKey("Authorization"))
        {
            try
            {
                var token = await services.Tokens.GetAccessTokenAsync(context.RequestAborted);
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Value);
            }
            catch (AccessTokenUnavailableException ex)
            {
                Log.NoToken(logger, ex.Message);
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                await context.Response.WriteAsJsonAsync(new { error = "Failed to generate a new access token (authentication). Check the server logs for details." }, context.RequestAborted);
                return;
            }
        }

        var started = services.Time.GetTimestamp();
        var client = context.RequestServices.GetRequiredService<IHttpClientFactory>().CreateClient(ClientName);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        timeout.CancelAfter(services.Options.TextRequestTimeout);
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            Log.UpstreamFailed(logger, target, "timeout");
            await WritePlainAsync(context, StatusCodes.Status504GatewayTimeout,
                $"The CES API did not answer within {services.Options.TextRequestTimeout.TotalSeconds:0} s");
            await RecordAsync(services, context, relative, requestBody, 504, null, started);
            return;
        }
        catch (HttpRequestException ex)
        {
            Log.UpstreamFailed(logger, target, ex.Message);
            await WritePlainAsync(context, StatusCodes.Status502BadGateway, "Error proxying request to the CES API: " + ex.Message);
            await RecordAsync(services, context, relative, requestBody, 502, null, started);
            return;
        }
        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            CopyHeaders(response.Headers, context.Response.Headers);
            CopyHeaders(response.Content.Headers, context.Response.Headers);
            var body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body, context.RequestAborted);
            await RecordAsync(services, context, relative, requestBody, (int)response.StatusCode, body, started);
        }
    }

    private static async Task RecordAsync(ProxyServices services, HttpContext context, string path, byte[]? request, int status, byte[]? response, long started)
    {
        try
        {
            await services.Observer.TextExchangeAsync(new CesTextExchange(
                context.Request.Method,
                path,
                context.Request.Headers.Origin.Count > 0 ? context.Request.Headers.Origin.ToString() : null,
                request,
                status,
                response,
                services.Time.GetElapsedTime(started)), CancellationToken.None);
        }
        catch (Exception ex)
        {
            // The widget has its answer already; a recording failure is logged, not turned into an error for it.
            Log.NotRecorded(services.Loggers.CreateLogger("Portal.Proxy.Forwarding.TextMode"), ex);
        }
    }

    private static void AddCorsHeaders(IHeaderDictionary headers, string origin)
    {
        headers.AccessControlAllowOrigin = origin.TrimEnd('/');
        headers.AccessControlAllowMethods = "GET, POST";
        headers.AccessControlAllowHeaders = "Content-Type, user-agent, Authorization";
        headers.AccessControlMaxAge = "3600";
        headers.Vary = "Origin";
    }

    private static void CopyHeaders(HttpHeaders from, IHeaderDictionary to)
    {
        foreach (var (name, values) in from)
        {
            if (!DroppedFromResponse.Contains(name) && !name.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase))
            {
                to[name] = new StringValues(values.ToArray());
            }
        }
    }

    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static Task WritePlainAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(message, context.RequestAborted);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Refused a text-mode request from origin {Origin}")]
        public static partial void OriginRefused(ILogger logger, string origin);

        [LoggerMessage(2, LogLevel.Warning, "No access token for a text-mode request: {Reason}")]
        public static partial void NoToken(ILogger logger, string reason);

        [LoggerMessage(3, LogLevel.Warning, "Text-mode request to {Target} failed: {Failure}")]
        public static partial void UpstreamFailed(ILogger logger, Uri target, string failure);

        [LoggerMessage(4, LogLevel.Error, "A text-mode exchange could not be recorded")]
        public static partial void NotRecorded(ILogger logger, Exception exception);
    }
}
