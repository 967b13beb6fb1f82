using System.Net.WebSockets;
using System.Text.Json;

namespace Proxy.Tests.Authentication;

/// <summary>Google.Apis.Auth for real: a generated service-account key whose token_uri is a fake OAuth endpoint on loopback.</summary>
public sealed class TokenTests
{
    [Fact]
    public async Task FiftySimultaneousConnections_WithoutTokens_MintOneTokenForAll()
    {
        await using var host = await ProxyTestHost.StartAsync();
        host.OAuth.Delay = TimeSpan.FromMilliseconds(300); // every connection arrives while the one mint is in flight
        var widgets = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => host.ConnectAsync()));

        await Task.WhenAll(widgets.Select(w => w.SendConfigAsync()));
        for (var i = 0; i < 50; i++)
        {
            await host.Upstream.WaitForConnectionAsync(i);
        }

        Assert.Equal(1, host.OAuth.Requests);
        Assert.All(host.Upstream.Connections, c => Assert.Equal("Bearer ya29.test-1", c.Headers.Authorization.ToString()));
        Assert.Equal("https://www.googleapis.com/auth/cloud-platform", Assert.Single(host.OAuth.Scopes));
        foreach (var widget in widgets)
        {
            await widget.DisposeAsync();
        }
        await host.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task Token_ReusedWithinTtl_MintedAgainAfterIt()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["TOKEN_TTL"] = "1" });

        await ConnectWithoutTokenAsync(host, 0);
        await ConnectWithoutTokenAsync(host, 1);
        var withinTtl = host.OAuth.Requests;
        await Task.Delay(1_200, TestContext.Current.CancellationToken);
        await ConnectWithoutTokenAsync(host, 2);

        Assert.Equal(1, withinTtl);
        Assert.Equal(2, host.OAuth.Requests);
        Assert.Equal("Bearer ya29.test-2", host.Upstream.Connections.ElementAt(2).Headers.Authorization.ToString());
    }

    [Fact]
    public async Task Token_NeverUsedPastItsOwnExpiry_EvenWithinTtl()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["TOKEN_TTL"] = "300" });
        host.OAuth.ExpiresInSeconds = 62; // usable for 2 s: a minute of margin is kept before expiry

        await ConnectWithoutTokenAsync(host, 0);
        await ConnectWithoutTokenAsync(host, 1);
        var beforeExpiry = host.OAuth.Requests;
        await Task.Delay(2_300, TestContext.Current.CancellationToken);
        await ConnectWithoutTokenAsync(host, 2);

        Assert.Equal(1, beforeExpiry);
        Assert.Equal(2, host.OAuth.Requests);
    }

    [Fact]
    public async Task Scopes_FromOAuthScopes_AreRequested()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["OAUTH_SCOPES"] = "https://www.googleapis.com/auth/cloud-platform, https://www.googleapis.com/auth/dialogflow" });

        await ConnectWithoutTokenAsync(host, 0);

        Assert.Equal("https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/dialogflow", Assert.Single(host.OAuth.Scopes));
    }

    [Fact]
    public async Task MintFails_ClientIsClosedAsAnAuthenticationFailureAndTheUpstreamNeverCalled()
    {
        await using var host = await ProxyTestHost.StartAsync();
        host.OAuth.FailWith = 400;
        await using var widget = await host.ConnectAsync();

        await widget.SendConfigAsync();
        var (before, status, reason) = await widget.ReceiveUntilCloseAsync();

        var frame = JsonDocument.Parse(Assert.Single(before)).RootElement;
        Assert.Contains("authentication", frame.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(WebSocketCloseStatus.InternalServerError, status);
        Assert.Contains("authentication", reason, StringComparison.Ordinal);
        Assert.Empty(host.Upstream.Connections);
        await host.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task MintFailsThenRecovers_TheNextConnectionGetsAFreshToken()
    {
        await using var host = await ProxyTestHost.StartAsync();
        host.OAuth.FailWith = 503;
        await using (var refused = await host.ConnectAsync())
        {
            await refused.SendConfigAsync();
            await refused.ReceiveUntilCloseAsync();
        }

        var failedAttempts = host.OAuth.Requests; // Google.Apis.Auth itself retries a 503 with back-off
        host.OAuth.FailWith = null;
        await ConnectWithoutTokenAsync(host, 0);

        Assert.True(failedAttempts >= 1);
        Assert.Equal($"Bearer ya29.test-{failedAttempts + 1}", host.Upstream.Connections.Single().Headers.Authorization.ToString());
    }

    [Fact]
    public async Task NoCredentialsAtAll_IsAnAuthenticationFailure()
    {
        await using var host = await ProxyTestHost.StartAsync(new() { ["CesProxy:CredentialsFile"] = "/nonexistent/key.json" });
        await using var widget = await host.ConnectAsync();

        await widget.SendConfigAsync();
        var (_, status, reason) = await widget.ReceiveUntilCloseAsync();

        Assert.Equal(WebSocketCloseStatus.InternalServerError, status);
        Assert.Contains("authentication", reason, StringComparison.Ordinal);
    }

    private static async Task ConnectWithoutTokenAsync(ProxyTestHost host, int index)
    {
        await using var widget = await host.ConnectAsync();
        await widget.SendConfigAsync();
        await host.Upstream.WaitForConnectionAsync(index);
    }
}
