using System.Net;
using Microsoft.Net.Http.Headers;
using Portal.Testing;

namespace Portal.IntegrationTests.Security;

/// <summary>
/// The flags of Portal's cookies as a browser receives them: HttpOnly and SameSite always, Secure whenever the request
/// is HTTPS, here as a trusted proxy reports it in X-Forwarded-Proto (or always, with Portal:RequireHttps).
/// </summary>
public sealed class CookieTests
{
    private const string AuthCookie = "portal.auth";
    private const string AntiforgeryCookie = ".AspNetCore.Antiforgery.";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SignIn_OverHttpsThroughATrustedProxy_SetsSecureHttpOnlyCookies()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var browser = new RawCookieBrowser(server, ("X-Forwarded-Proto", "https"));

        var cookies = await browser.SignInAsync(PortalTestServer.AdminEmail);

        AssertFlags(cookies[AuthCookie], secure: true, SameSiteMode.Lax);
        AssertFlags(cookies[AntiforgeryCookie], secure: true, SameSiteMode.Strict);
    }

    [Fact]
    public async Task SignIn_OverPlainHttp_SetsHttpOnlyCookiesWithoutSecure()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var browser = new RawCookieBrowser(server);

        var cookies = await browser.SignInAsync(PortalTestServer.AdminEmail);

        AssertFlags(cookies[AuthCookie], secure: false, SameSiteMode.Lax);
        AssertFlags(cookies[AntiforgeryCookie], secure: false, SameSiteMode.Strict);
    }

    [Fact]
    public async Task SignIn_FromAnUntrustedPeerClaimingHttps_SetsCookiesWithoutSecure()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:ForwardedHeaders:TrustLoopback"] = "false" });
        using var browser = new RawCookieBrowser(server, ("X-Forwarded-Proto", "https"));

        var cookies = await browser.SignInAsync(PortalTestServer.AdminEmail);

        AssertFlags(cookies[AuthCookie], secure: false, SameSiteMode.Lax);
    }

    [Fact]
    public async Task RequireHttps_PlainHttpRequest_IsRedirectedWith308ToHttps()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:RequireHttps"] = "true" });
        using var browser = new RawCookieBrowser(server, ("Host", "portal.example.com"));

        using var response = await browser.GetAsync("/account/login?returnUrl=%2F");

        Assert.Equal(HttpStatusCode.PermanentRedirect, response.StatusCode);
        Assert.Equal("https://portal.example.com/account/login?returnUrl=%2F", response.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task RequireHttps_HttpsThroughATrustedProxy_SendsHstsAndSecureCookies()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:RequireHttps"] = "true" });
        using var browser = new RawCookieBrowser(server, ("Host", "portal.example.com"), ("X-Forwarded-Proto", "https"));

        var cookies = await browser.SignInAsync(PortalTestServer.AdminEmail);
        using var page = await browser.GetAsync("/account/login");

        Assert.Equal("max-age=31536000", string.Join(",", page.Headers.GetValues("Strict-Transport-Security")));
        AssertFlags(cookies[AuthCookie], secure: true, SameSiteMode.Lax);
        AssertFlags(cookies[AntiforgeryCookie], secure: true, SameSiteMode.Strict);
    }

    [Fact]
    public async Task RequireHttps_HealthProbeOverPlainHttp_IsAnswered()
    {
        await using var server = await PortalTestServer.StartAsync(new() { ["Portal:RequireHttps"] = "true" });
        using var client = server.CreateClient();

        using var response = await client.GetAsync("/health", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static void AssertFlags(SetCookieHeaderValue cookie, bool secure, SameSiteMode sameSite)
    {
        Assert.True(cookie.HttpOnly, $"{cookie.Name} is HttpOnly");
        Assert.Equal(sameSite, cookie.SameSite);
        Assert.Equal(secure, cookie.Secure);
        Assert.Equal("/", cookie.Path.ToString());
    }

    /// <summary>
    /// A browser that keeps cookies by hand, so a Secure cookie set over a proxy-reported HTTPS is sent back on this plain
    /// connection (as the browser would over its HTTPS one) and every Set-Cookie is seen with its flags.
    /// </summary>
    private sealed class RawCookieBrowser(PortalTestServer server, params (string Name, string Value)[] headers) : IDisposable
    {
        private readonly HttpClient _client = new(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = server.BaseAddress };
        private readonly Dictionary<string, string> _jar = [];

        /// <summary>The last Set-Cookie seen for each cookie; an antiforgery cookie under its common prefix.</summary>
        public Dictionary<string, SetCookieHeaderValue> Seen { get; } = [];

        public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request)
        {
            foreach (var (name, value) in headers)
            {
                if (name == "Host")
                {
                    request.Headers.Host = value;
                }
                else
                {
                    request.Headers.Add(name, value);
                }
            }
            if (_jar.Count > 0)
            {
                request.Headers.Add("Cookie", string.Join("; ", _jar.Select(c => $"{c.Key}={c.Value}")));
            }
            var response = await _client.SendAsync(request, Ct);
            if (response.Headers.TryGetValues("Set-Cookie", out var values))
            {
                foreach (var cookie in SetCookieHeaderValue.ParseList(values.ToList()))
                {
                    var name = cookie.Name.ToString();
                    if (cookie.Expires < DateTimeOffset.UtcNow)
                    {
                        _jar.Remove(name);
                        continue;
                    }
                    _jar[name] = cookie.Value.ToString();
                    Seen[name.StartsWith(AntiforgeryCookie, StringComparison.Ordinal) ? AntiforgeryCookie : name] = cookie;
                }
            }
            return response;
        }

        public Task<HttpResponseMessage> GetAsync(string path) => SendAsync(new HttpRequestMessage(HttpMethod.Get, path));

        /// <summary>The sign-in form, filled in and posted; returns every cookie set on the way.</summary>
        public async Task<Dictionary<string, SetCookieHeaderValue>> SignInAsync(string email)
        {
            using var page = await GetAsync("/account/login");
            var html = await page.Content.ReadAsStringAsync(Ct);
            using var post = await SendAsync(new HttpRequestMessage(HttpMethod.Post, "/account/login")
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string>
                {
                    ["_handler"] = "login",
                    ["__RequestVerificationToken"] = PortalTestServer.AntiforgeryToken(html),
                    ["Input.Email"] = email,
                    ["Input.Password"] = PortalTestServer.Password,
                }),
            });
            Assert.Equal(HttpStatusCode.Redirect, post.StatusCode);
            return Seen;
        }

        public void Dispose() => _client.Dispose();
    }
}
