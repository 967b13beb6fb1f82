using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Portal.Proxy;

namespace Proxy.Tests;

public sealed class CesProxyExtensionsTests
{
    [Fact]
    public void MapCesProxy_EmptyPattern_IsRejected()
    {
        var app = WebApplication.CreateBuilder().Build();

        Assert.Throws<ArgumentException>(() => app.MapCesProxy(""));
    }

    [Fact]
    public async Task MapCesProxy_OnAHost_AnswersAtItsPathAndNowhereElse()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddCesProxy();
        await using var app = builder.Build();
        app.MapCesProxy("/ces");
        await app.StartAsync(TestContext.Current.CancellationToken);
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        using var proxy = await client.GetAsync("/ces", TestContext.Current.CancellationToken);
        using var elsewhere = await client.GetAsync("/other", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotImplemented, proxy.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, elsewhere.StatusCode);
    }
}
