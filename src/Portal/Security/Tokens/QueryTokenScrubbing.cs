using System.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;

namespace Portal.Security.Tokens;

/// <summary>The <c>access_token</c> a request carried in its query, after it was taken out of the query.</summary>
internal sealed class QueryAccessTokenFeature(string token)
{
    public string Token { get; } = token;
}

/// <summary>
/// Takes <c>access_token</c> out of every request's query and raw target before ASP.NET Core sees the request, and
/// keeps it in <see cref="QueryAccessTokenFeature"/> for the token handler. Middleware would be too late: the hosting
/// layer logs "Request starting ... {Path}{QueryString}" (Microsoft.AspNetCore.Hosting.Diagnostics, Information)
/// before the first middleware runs. So this wraps the server's application instead, and nothing downstream (request
/// logs, diagnostics, error pages, <c>Request.Query</c>) ever holds the token. Everywhere but under <c>/ces</c>, whose
/// text-mode proxy forwards its query to Google unchanged.
/// </summary>
internal static class QueryTokenScrubbing
{
    private static readonly PathString CesProxyPath = "/ces";

    /// <summary>Wraps the registered <see cref="IServer"/> (Kestrel); a host without a server is left alone.</summary>
    public static IServiceCollection AddQueryTokenScrubbing(this IServiceCollection services)
    {
        var server = services.LastOrDefault(d => d.ServiceType == typeof(IServer) && !d.IsKeyedService);
        if (server is null || services.Any(d => d.ServiceType == typeof(Marker)))
        {
            return services;
        }
        services.AddSingleton<Marker>();
        services.Remove(server);
        if (server.ImplementationType is { } type)
        {
            // Resolved as before (same constructor choice) under its own type; the container disposes it.
            services.AddSingleton(type);
            services.AddSingleton<IServer>(sp => new ScrubbingServer((IServer)sp.GetRequiredService(type), ownsInner: false));
        }
        else if (server.ImplementationFactory is { } factory)
        {
            services.AddSingleton<IServer>(sp => new ScrubbingServer((IServer)factory(sp), ownsInner: true));
        }
        else
        {
            services.AddSingleton<IServer>(new ScrubbingServer((IServer)server.ImplementationInstance!, ownsInner: false));
        }
        return services;
    }

    /// <summary>Moves <c>access_token</c> from the request's query into <see cref="QueryAccessTokenFeature"/>.</summary>
    internal static void Scrub(IFeatureCollection features)
    {
        features.Set<QueryAccessTokenFeature>(null); // features of a kept-alive connection are reused
        var request = features.Get<IHttpRequestFeature>();
        // Cheap test first; '%' because the name may come percent-encoded.
        if (request is null || (request.QueryString.IndexOf(ApiTokenDefaults.QueryParameter, StringComparison.OrdinalIgnoreCase) < 0
            && !request.QueryString.Contains('%', StringComparison.Ordinal)))
        {
            return;
        }
        if (new PathString(request.Path).StartsWithSegments(CesProxyPath, StringComparison.OrdinalIgnoreCase))
        {
            return; // the CES proxy's query belongs to Google's API, which it is forwarded to unchanged; Portal tokens are not taken there
        }
        var (kept, token) = Split(request.QueryString);
        if (token is null)
        {
            return;
        }
        features.Set(new QueryAccessTokenFeature(token));
        request.QueryString = kept;
        var rawQuery = request.RawTarget.IndexOf('?', StringComparison.Ordinal);
        if (rawQuery >= 0)
        {
            request.RawTarget = request.RawTarget[..rawQuery] + kept;
        }
    }

    /// <summary>The query without any <c>access_token</c> parameter (any case, any encoding), and the first one's value.</summary>
    internal static (string Kept, string? Token) Split(string queryString)
    {
        var query = queryString.StartsWith('?') ? queryString[1..] : queryString;
        string? token = null;
        var kept = new StringBuilder(query.Length);
        var found = false;
        foreach (var pair in query.Split('&'))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Decode(equals < 0 ? pair : pair[..equals]);
            if (string.Equals(name, ApiTokenDefaults.QueryParameter, StringComparison.OrdinalIgnoreCase))
            {
                found = true;
                token ??= equals < 0 ? "" : Decode(pair[(equals + 1)..]);
                continue;
            }
            if (pair.Length > 0)
            {
                kept.Append(kept.Length == 0 ? '?' : '&').Append(pair);
            }
        }
        return found ? (kept.ToString(), token) : (queryString, null);
    }

    private static string Decode(string value) => Uri.UnescapeDataString(value.Replace('+', ' '));

    private sealed class Marker;

    private sealed class ScrubbingServer(IServer inner, bool ownsInner) : IServer
    {
        public IFeatureCollection Features => inner.Features;

        public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken) where TContext : notnull =>
            inner.StartAsync(new ScrubbingApplication<TContext>(application), cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => inner.StopAsync(cancellationToken);

        public void Dispose()
        {
            if (ownsInner)
            {
                inner.Dispose();
            }
        }
    }

    private sealed class ScrubbingApplication<TContext>(IHttpApplication<TContext> inner) : IHttpApplication<TContext> where TContext : notnull
    {
        public TContext CreateContext(IFeatureCollection contextFeatures)
        {
            Scrub(contextFeatures);
            return inner.CreateContext(contextFeatures);
        }

        public Task ProcessRequestAsync(TContext context) => inner.ProcessRequestAsync(context);

        public void DisposeContext(TContext context, Exception? exception) => inner.DisposeContext(context, exception);
    }
}
