using System.Net;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.HttpsPolicy;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Portal.Security.Origins;
using Portal.Security.Transport;

namespace Portal.Security;

/// <summary>What every request goes through before Portal's endpoints: trusted proxies, HTTPS, cookie flags, origins.</summary>
public static class RequestSecurityExtensions
{
    /// <summary>
    /// Paths whose requests must come from an allowed origin (<see cref="PortalOriginPolicy"/>): the program sockets,
    /// every hub (<c>/hubs/session</c> included), and Blazor's own circuit socket. <c>/ces</c> is not here: the CES proxy
    /// checks <c>AUTHORIZED_ORIGINS</c> itself.
    /// </summary>
    public static readonly IReadOnlyList<PathString> OriginGuardedPaths = ["/ws", "/hubs", "/_blazor"];

    public static IHostApplicationBuilder AddPortalRequestSecurity(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;

        services.AddOptions<AllowedOriginsOptions>().Configure<IConfiguration>(AllowedOriginsOptions.Read).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AllowedOriginsOptions>, AllowedOriginsOptionsValidation>();
        services.AddSingleton<PortalOriginPolicy>();

        services.AddOptions<TrustedProxiesOptions>()
            .BindConfiguration(TrustedProxiesOptions.Section)
            .Configure<IConfiguration>(TrustedProxiesOptions.ReadLists)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<TrustedProxiesOptions>, TrustedProxiesOptionsValidation>();
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<TrustedProxiesOptions>>((forwarded, trusted) => Trust(forwarded, trusted.Value));

        services.AddOptions<HttpsOptions>().BindConfiguration(HttpsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<HstsOptions>().Configure<IOptions<HttpsOptions>>((hsts, https) => hsts.MaxAge = https.Value.HstsMaxAge);

        // Cookies: HttpOnly, SameSite, and Secure whenever the request is HTTPS (or always, when HTTPS is required).
        services.AddOptions<AntiforgeryOptions>().Configure<IOptions<HttpsOptions>>((antiforgery, https) =>
        {
            antiforgery.Cookie.HttpOnly = true;
            antiforgery.Cookie.SameSite = SameSiteMode.Strict;
            antiforgery.Cookie.SecurePolicy = SecurePolicy(https.Value);
        });
        foreach (var scheme in (string[])[IdentityConstants.ApplicationScheme, IdentityConstants.ExternalScheme,
                     IdentityConstants.TwoFactorRememberMeScheme, IdentityConstants.TwoFactorUserIdScheme])
        {
            services.AddOptions<CookieAuthenticationOptions>(scheme).PostConfigure<IOptions<HttpsOptions>>((cookie, https) =>
            {
                cookie.Cookie.HttpOnly = true;
                cookie.Cookie.SecurePolicy = SecurePolicy(https.Value);
                if (cookie.Cookie.SameSite is SameSiteMode.None or SameSiteMode.Unspecified)
                {
                    cookie.Cookie.SameSite = SameSiteMode.Lax;
                }
            });
        }
        return builder;
    }

    /// <summary>
    /// First in the pipeline: forwarded headers from trusted proxies (so the client address and the HTTPS decision are
    /// right for everything after), then the HTTPS redirect and HSTS when required, then the origin check of
    /// <see cref="OriginGuardedPaths"/>.
    /// </summary>
    public static IApplicationBuilder UsePortalRequestSecurity(this IApplicationBuilder app)
    {
        app.UseForwardedHeaders();
        var https = app.ApplicationServices.GetRequiredService<IOptions<HttpsOptions>>().Value;
        if (https.RequireHttps)
        {
            app.Use((context, next) => context.Request.IsHttps || context.Request.Path.StartsWithSegments("/health")
                ? next(context)
                : RedirectToHttpsAsync(context, https.HttpsPort));
            if (https.HstsMaxAge > TimeSpan.Zero)
            {
                app.UseHsts();
            }
        }
        app.UseMiddleware<AllowedOriginsMiddleware>(OriginGuardedPaths);
        return app;
    }

    private static CookieSecurePolicy SecurePolicy(HttpsOptions https) =>
        https.RequireHttps ? CookieSecurePolicy.Always : CookieSecurePolicy.SameAsRequest;

    private static void Trust(ForwardedHeadersOptions forwarded, TrustedProxiesOptions trusted)
    {
        forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto | ForwardedHeaders.XForwardedHost;
        forwarded.ForwardLimit = trusted.ForwardLimit;
        forwarded.KnownProxies.Clear();
        forwarded.KnownIPNetworks.Clear();
        if (trusted.TrustLoopback)
        {
            forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse("127.0.0.0/8"));
            forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse("::1/128"));
        }
        foreach (var proxy in trusted.KnownProxies)
        {
            forwarded.KnownProxies.Add(IPAddress.Parse(proxy));
        }
        foreach (var network in trusted.KnownNetworks)
        {
            forwarded.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
        }
        if (forwarded.KnownProxies.Count == 0 && forwarded.KnownIPNetworks.Count == 0)
        {
            // The middleware reads two empty lists as "trust every peer"; here they mean "trust none".
            forwarded.ForwardedHeaders = ForwardedHeaders.None;
        }
    }

    /// <summary>308 keeps the method and body; health probes stay on plain HTTP so a local checker needs no certificate.</summary>
    private static Task RedirectToHttpsAsync(HttpContext context, int? port)
    {
        var request = context.Request;
        if (!request.Host.HasValue)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return Task.CompletedTask;
        }
        var host = port is null or 443 ? new HostString(request.Host.Host) : new HostString(request.Host.Host, port.Value);
        context.Response.StatusCode = StatusCodes.Status308PermanentRedirect;
        context.Response.Headers.Location = Microsoft.AspNetCore.Http.Extensions.UriHelper.BuildAbsolute(
            "https", host, request.PathBase, request.Path, request.QueryString);
        return Task.CompletedTask;
    }
}
