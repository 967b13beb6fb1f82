using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Portal.Security.Origins;

namespace Portal.IntegrationTests.Security;

/// <summary>The origin rule itself, on requests as Kestrel hands them over (Host as the proxy sent it).</summary>
public sealed class PortalOriginPolicyTests
{
    private static readonly PortalOriginPolicy Policy = new(Options.Create(new AllowedOriginsOptions { Origins = ["https://tools.example.com", "http://localhost:3000/"] }));

    [Theory]
    [InlineData(null, "portal.example.com", true)]
    [InlineData("https://portal.example.com", "portal.example.com", true)]
    [InlineData("https://portal.example.com", "portal.example.com:443", true)]
    [InlineData("https://PORTAL.example.com", "portal.example.com", true)]
    [InlineData("http://127.0.0.1:5000", "127.0.0.1:5000", true)]
    [InlineData("http://127.0.0.1:5001", "127.0.0.1:5000", false)]
    [InlineData("https://portal.example.com:8443", "portal.example.com", false)]
    [InlineData("https://chat.portal.example.com", "portal.example.com", false)]
    [InlineData("https://tools.example.com", "portal.example.com", true)]
    [InlineData("https://tools.example.com:443", "portal.example.com", true)]
    [InlineData("https://Tools.Example.com/", "portal.example.com", true)]
    [InlineData("http://localhost:3000", "portal.example.com", true)]
    [InlineData("http://tools.example.com", "portal.example.com", false)]
    [InlineData("https://tools.example.com.evil.example", "portal.example.com", false)]
    [InlineData("http://localhost:3001", "portal.example.com", false)]
    [InlineData("null", "portal.example.com", false)]
    [InlineData("file://", "portal.example.com", false)]
    [InlineData("https://portal.example.com, https://evil.example", "portal.example.com", false)]
    public void IsAllowed_ForOriginAndHost_AnswersAsPortalsRuleSays(string? origin, string host, bool allowed)
    {
        var context = new DefaultHttpContext();
        context.Request.Host = new HostString(host);
        if (origin is not null)
        {
            context.Request.Headers.Origin = origin;
        }

        Assert.Equal(allowed, Policy.IsAllowed(context.Request));
    }
}
