using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Proxy.Tests.Forwarding;

public sealed class TextModeTests
{
    private const string RunSession = "projects/test-project/locations/us/apps/app-1/sessions/s-1:runSession";
    private static readonly object Body = new
    {
        config = new { session = "projects/test-project/locations/us/apps/app-1/sessions/s-1", deployment = "projects/test-project/locations/us/apps/app-1/deployments/d" },
        inputs = new[] { new { text = "hello" } },
    };

    [Theory]
    [InlineData("/ces/v1/")]
    [InlineData("/ces/")]
    public async Task RunSession_IsForwardedToTheCesApiWithAToken(string prefix)
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["AUTHORIZED_ORIGINS"] = "https://shop.example.com" });
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, prefix + RunSession + "?alt=json") { Content = JsonContent.Create(Body) };
        request.Headers.Add("Origin", "https://shop.example.com");
        request.Headers.Add("Cookie", "portal.auth=secret-session-cookie");

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        var answer = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Hello from CES (text mode)", answer.GetProperty("outputs")[0].GetProperty("text").GetString());
        Assert.Equal("https://shop.example.com", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal("1", response.Headers.GetValues("X-Ces-Fake").Single());
        var (method, pathAndQuery, headers, body) = Assert.Single(host.Upstream.TextRequests);
        Assert.Equal("POST", method);
        Assert.Equal("/v1/" + RunSession + "?alt=json", pathAndQuery);
        Assert.Equal("Bearer ya29.test-1", headers.Authorization.ToString());
        Assert.False(headers.ContainsKey("Cookie"));
        Assert.Contains("\"inputs\"", body, StringComparison.Ordinal);
        var exchange = Assert.Single(host.Observer.TextExchanges);
        Assert.Equal((200, RunSession), (exchange.Status, exchange.Path));
    }

    [Fact]
    public async Task Request_WithItsOwnAuthorization_IsForwardedAsIsWithoutMinting()
    {
        await using var host = await ProxyTestHost.StartAsync();
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "ya29.widget-own");

        using var response = await http.GetAsync("/ces/v1/projects/test-project/locations/us/apps/app-1", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Bearer ya29.widget-own", host.Upstream.TextRequests.Single().Headers.Authorization.ToString());
        Assert.Equal(0, host.OAuth.Requests);
    }

    [Theory]
    [InlineData("https://shop.example.com", true)]
    [InlineData("https://evil.example.com", false)]
    public async Task Preflight_Is204_WithCorsHeadersOnlyForAllowedOrigins(string origin, bool allowed)
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["AUTHORIZED_ORIGINS"] = "https://shop.example.com" });
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Options, "/ces/v1/" + RunSession);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(allowed, response.Headers.Contains("Access-Control-Allow-Origin"));
        if (allowed)
        {
            Assert.Equal("GET, POST", response.Headers.GetValues("Access-Control-Allow-Methods").Single());
            Assert.Equal("3600", response.Headers.GetValues("Access-Control-Max-Age").Single());
        }
        Assert.Empty(host.Upstream.TextRequests);
    }

    [Fact]
    public async Task Request_FromAnOriginNotAllowed_Is403AndNotForwarded()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["AUTHORIZED_ORIGINS"] = "https://shop.example.com" });
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/ces/v1/" + RunSession) { Content = JsonContent.Create(Body) };
        request.Headers.Add("Origin", "https://evil.example.com");

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Empty(host.Upstream.TextRequests);
        Assert.Equal(0, host.OAuth.Requests);
    }

    [Theory]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    [InlineData("PATCH")]
    public async Task OtherMethods_Are405(string method)
    {
        await using var host = await ProxyTestHost.StartAsync();
        using var http = new HttpClient { BaseAddress = host.BaseAddress };

        using var response = await http.SendAsync(new HttpRequestMessage(new HttpMethod(method), "/ces/v1/" + RunSession), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Empty(host.Upstream.TextRequests);
    }

    [Fact]
    public async Task CesApiUnreachable_Is502()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["CesProxy:TextApiBaseUrl"] = "http://127.0.0.1:1" });
        using var http = new HttpClient { BaseAddress = host.BaseAddress };

        using var response = await http.PostAsync("/ces/v1/" + RunSession, JsonContent.Create(Body), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.StartsWith("Error proxying request to the CES API", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CesApiTooSlow_Is504AfterTheTimeout()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["CesProxy:TextRequestTimeout"] = "00:00:00.500" });
        host.Upstream.TextDelay = TimeSpan.FromSeconds(5);
        using var http = new HttpClient { BaseAddress = host.BaseAddress };

        var started = DateTime.UtcNow;
        using var response = await http.PostAsync("/ces/v1/" + RunSession, JsonContent.Create(Body), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(4));
    }

    [Fact]
    public async Task OversizedBody_Is413()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["CesProxy:MaxMessageBytes"] = "2048" });
        using var http = new HttpClient { BaseAddress = host.BaseAddress };

        using var response = await http.PostAsync("/ces/v1/" + RunSession, new StringContent(new string('x', 5000), Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Empty(host.Upstream.TextRequests);
    }
}
