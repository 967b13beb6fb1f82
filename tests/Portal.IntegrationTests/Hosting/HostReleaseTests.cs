using System.Runtime.CompilerServices;
using Portal.Testing;

namespace Portal.IntegrationTests.Hosting;

/// <summary>
/// A Portal host that has stopped leaves nothing running that keeps it alive. ASP.NET Core's rate-limiting middleware did:
/// its partitioned limiters' timers are never disposed and held every stopped host's pipeline, services and caches
/// (290 hosts, about 560 MiB, by the end of this test project's run), which made the fuzz tests' heap checks noisy.
/// </summary>
public sealed class HostReleaseTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 60_000)]
    public async Task AStoppedHost_IsCollected_AfterServingApiRequests()
    {
        var services = await StartServeAndStopAsync();

        for (var attempt = 0; attempt < 20 && services.IsAlive; attempt++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            await Task.Delay(100, Ct);
        }

        Assert.False(services.IsAlive, "The stopped host's service provider is still reachable.");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> StartServeAndStopAsync()
    {
        var server = await PortalTestServer.StartAsync(new() { ["Portal:Limits:ApiRequestsPerMinute"] = "100" });
        try
        {
            var cookies = await server.SignInCookiesAsync(PortalTestServer.AdminEmail);
            using var client = server.CreateClient(cookies);
            for (var i = 0; i < 3; i++)
            {
                using var response = await client.GetAsync("/api/sessions", Ct);
                response.EnsureSuccessStatusCode();
            }
            return new WeakReference(server.Services);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
