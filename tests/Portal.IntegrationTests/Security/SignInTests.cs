using System.Net;
using System.Net.Http.Headers;
using Portal.Testing;

namespace Portal.IntegrationTests.Security;

public sealed class SignInTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("/api/sessions")]
    [InlineData("/sessions")]
    public async Task Api_WithoutSignIn_Is401(string path)
    {
        await using var server = await PortalTestServer.StartAsync();
        using var client = server.CreateClient();

        using var response = await client.GetAsync(path, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/admin/sessions")]
    public async Task Page_WithoutSignIn_RedirectsABrowserToSignIn(string path)
    {
        await using var server = await PortalTestServer.StartAsync();
        using var client = server.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));

        using var response = await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith("/account/login", response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignIn_WithTheRightPassword_OpensTheChatPage()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        using var client = await server.SignInAsync("alice@portal.test");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));

        using var response = await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Message the agent", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignIn_WithAWrongPassword_ShowsAnErrorAndSetsNoCookie()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        var cookies = new CookieContainer();
        using var client = server.CreateClient(cookies);

        using var response = await PortalTestServer.PostSignInFormAsync(client, "alice@portal.test", "wrong-password-1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("The e-mail or password is not right.", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.DoesNotContain(cookies.GetAllCookies(), c => c.Name == "portal.auth");
    }

    [Fact]
    public async Task AdminPage_AsAPlainUser_IsDenied()
    {
        await using var server = await PortalTestServer.StartAsync();
        await server.CreateUserAsync("alice@portal.test");
        using var client = await server.SignInAsync("alice@portal.test");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/sessions");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));

        using var response = await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith("/account/denied", response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logout_WithTheFormsToken_SignsOut()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var client = await server.SignInAsync(PortalTestServer.AdminEmail);
        var page = await client.GetStringAsync("/admin/sessions", Ct);

        using var response = await client.PostAsync("/account/logout", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = PortalTestServer.AntiforgeryToken(page),
        }), Ct);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        using var signedOut = await client.GetAsync("/api/sessions", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, signedOut.StatusCode);
    }

    [Fact]
    public async Task Logout_WithoutAntiforgeryToken_IsRejected()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var client = await server.SignInAsync(PortalTestServer.AdminEmail);

        using var response = await client.PostAsync("/account/logout", new FormUrlEncodedContent([]), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var stillSignedIn = await client.GetAsync("/api/sessions", Ct);
        Assert.Equal(HttpStatusCode.OK, stillSignedIn.StatusCode);
    }
}
