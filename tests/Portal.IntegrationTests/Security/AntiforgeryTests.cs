using System.Net;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Portal.Testing;
using Portal.Testing.Fakes;

namespace Portal.IntegrationTests.Security;

/// <summary>
/// Every form Portal serves carries an antiforgery token, and a POST without a valid one is refused with 400 before it
/// does anything; with the token from the page, the same POST works.
/// </summary>
public sealed class AntiforgeryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Each form: the page that shows it, where it posts, and its fields (token aside).</summary>
    public static TheoryData<string> Forms => ["login", "register", "setup", "google", "logout"];

    private static (string Page, string Action, Dictionary<string, string> Fields) Form(string name) => name switch
    {
        "login" => ("/account/login", "/account/login", new() { ["_handler"] = "login", ["Input.Email"] = PortalTestServer.AdminEmail, ["Input.Password"] = PortalTestServer.Password }),
        "register" => ("/account/register", "/account/register", new()
        {
            ["_handler"] = "register", ["Input.Email"] = "new@portal.test", ["Input.Password"] = PortalTestServer.Password, ["Input.ConfirmPassword"] = PortalTestServer.Password,
        }),
        "setup" => ("/setup", "/setup", new()
        {
            ["_handler"] = "setup", ["token"] = "x", ["Input.Email"] = "root@portal.test", ["Input.Password"] = PortalTestServer.Password, ["Input.ConfirmPassword"] = PortalTestServer.Password,
        }),
        "google" => ("/account/login", "/account/login", new() { ["_handler"] = "google", ["credential"] = "x.y.z" }),
        "logout" => ("/account/login", "/account/logout", []),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static async Task<PortalTestServer> StartAsync()
    {
        // Google sign-in on, so its form is on the sign-in page too.
        return await PortalTestServer.StartAsync(new()
        {
            ["Portal:Google:ClientId"] = FakeGoogleIdentity.ClientId,
            ["Portal:Google:CertificatesUrl"] = "http://127.0.0.1:1/certs",
        });
    }

    [Theory]
    [MemberData(nameof(Forms))]
    public async Task Post_WithoutAntiforgeryToken_Is400AndChangesNothing(string form)
    {
        await using var server = await StartAsync();
        using var client = await server.SignInAsync(PortalTestServer.AdminEmail);
        var (page, action, fields) = Form(form);
        await client.GetStringAsync(page, Ct);

        using var response = await client.PostAsync(action, new FormUrlEncodedContent(fields), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.DoesNotContain(response.Headers, h => h.Key == "Set-Cookie" && h.Value.Any(v => v.StartsWith("portal.auth=", StringComparison.Ordinal)));
        using var stillSignedIn = await client.GetAsync("/api/sessions", Ct);
        Assert.Equal(HttpStatusCode.OK, stillSignedIn.StatusCode);
    }

    [Theory]
    [MemberData(nameof(Forms))]
    public async Task Post_WithATokenFromAnotherBrowser_Is400(string form)
    {
        await using var server = await StartAsync();
        var (page, action, fields) = Form(form);
        using var other = server.CreateClient();
        var othersToken = PortalTestServer.AntiforgeryToken(await other.GetStringAsync("/account/login", Ct));
        using var client = server.CreateClient();
        await client.GetStringAsync(page, Ct);
        fields["__RequestVerificationToken"] = othersToken;

        using var response = await client.PostAsync(action, new FormUrlEncodedContent(fields), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Register_WithTheFormsToken_CreatesTheAccountAndSignsIn()
    {
        await using var server = await StartAsync();
        using var client = server.CreateClient();
        var (page, action, fields) = Form("register");
        fields["__RequestVerificationToken"] = PortalTestServer.AntiforgeryToken(await client.GetStringAsync(page, Ct));

        using var response = await client.PostAsync(action, new FormUrlEncodedContent(fields), Ct);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        using var sessions = await client.GetAsync("/api/sessions", Ct);
        Assert.Equal(HttpStatusCode.OK, sessions.StatusCode);
    }

    /// <summary>
    /// The audit: every endpoint that accepts POST, PUT, PATCH or DELETE either requires an antiforgery token or is
    /// listed here with the reason it needs none. A new form endpoint fails this test until it is one or the other.
    /// </summary>
    [Fact]
    public async Task Endpoints_AcceptingUnsafeMethods_RequireAntiforgeryOrAreListedWithAReason()
    {
        await using var server = await StartAsync();
        var exempt = new Dictionary<string, string>
        {
            ["/account/logout"] = "checks the token in its handler, to answer 400 with a reason (Post_WithoutAntiforgeryToken_Is400AndChangesNothing)",
            ["/ws"] = "WebSocket upgrades carry no form; the Origin check before the upgrade is their defence",
            ["/hubs"] = "SignalR; the Origin check covers every request under /hubs",
            ["/_blazor"] = "Blazor's circuit (SignalR); the Origin check covers every request under /_blazor",
            ["/ces"] = "the anonymous CES proxy uses no Portal cookie; AUTHORIZED_ORIGINS guards it",
            ["/api"] = "JSON and DELETE only: another origin's page must send a CORS preflight, which Portal never allows, and a form cannot produce them",
            ["/health"] = "read-only whatever the method",
        };
        var endpoints = server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>();
        var unsafeMethods = new[] { HttpMethods.Post, HttpMethods.Put, HttpMethods.Patch, HttpMethods.Delete };

        var audited = endpoints
            .Where(e => e.Metadata.GetMetadata<IHttpMethodMetadata>() is not { } methods || methods.HttpMethods.Intersect(unsafeMethods).Any())
            .Select(e => (Path: "/" + (e.RoutePattern.RawText ?? "").TrimStart('/'), Token: e.Metadata.GetMetadata<IAntiforgeryMetadata>()?.RequiresValidation == true))
            .Select(e => (e.Path, Why: e.Token ? "antiforgery token required"
                : (string?)exempt.FirstOrDefault(x => e.Path == x.Key || e.Path.StartsWith(x.Key + "/", StringComparison.Ordinal)).Value))
            .ToList();
        foreach (var (path, why) in audited)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{path}: {why ?? "UNPROTECTED"}");
        }
        var unprotected = audited.Where(e => e.Why is null).Select(e => e.Path).ToList();

        Assert.Empty(unprotected);
        Assert.Contains(endpoints, e => e.RoutePattern.RawText == "/account/login" && e.Metadata.GetMetadata<IAntiforgeryMetadata>()?.RequiresValidation == true);
    }
}
