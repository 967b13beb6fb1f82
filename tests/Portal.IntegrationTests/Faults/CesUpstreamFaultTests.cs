using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Portal.Testing;
using Portal.Testing.Fakes;

namespace Portal.IntegrationTests.Faults;

/// <summary>
/// The CES proxy inside Portal when its upstream fails below the protocol: the widget is told, and the connection's
/// session log says how it ended. (Every fault kind is covered in Proxy.Tests' UpstreamFaultTests; this checks the log.)
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class CesUpstreamFaultTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(Misbehaviour.NeverAnswers, 1011, "The upstream could not be reached.")]
    [InlineData(Misbehaviour.SilentAfterUpgrade, 1000, "The upstream connection was lost.")]
    public async Task UpstreamFails_WidgetIsTold_SessionLogRecordsHowItEnded_AnotherWidgetStreamsOn(Misbehaviour mode, int code, string detail)
    {
        await using var healthyUpstream = await FakeCesUpstream.StartAsync();
        healthyUpstream.Mode = UpstreamMode.Echo;
        await using var faulty = MisbehavingUpstream.Start(mode);
        await using var portal = await PortalTestServer.StartAsync(new()
        {
            ["CesProxy:AppsEndpointTemplate"] = healthyUpstream.AppsTemplate,
            ["PS_ENDPOINT_TEMPLATE_FAULTY"] = faulty.Template,
            ["CesProxy:CredentialsFile"] = "/nonexistent.json",
            ["CesProxy:UpstreamConnectTimeout"] = "00:00:02",
            ["CesProxy:KeepAliveInterval"] = "00:00:01",
            ["CesProxy:KeepAliveTimeout"] = "00:00:01",
        });
        var ces = new Uri($"ws://{portal.BaseAddress.Authority}/ces");
        await using var healthy = await WidgetClient.ConnectAsync(ces, cancellationToken: Ct);
        await healthy.SendConfigAsync(accessToken: "ya29.healthy");
        await using var widget = await WidgetClient.ConnectAsync(ces, cancellationToken: Ct);

        var elapsed = Stopwatch.StartNew();
        await widget.SendConfigAsync(accessToken: "ya29.faulty", environment: "faulty");
        var closing = widget.ReceiveUntilCloseAsync(timeoutSeconds: 15);
        var echoes = 0;
        while (!closing.IsCompleted)
        {
            await healthy.SendTextAsync($"healthy {echoes}");
            var (_, data) = await healthy.ReceiveAsync(timeoutSeconds: 5);
            Assert.Contains($"healthy {echoes++}", System.Text.Encoding.UTF8.GetString(data), StringComparison.Ordinal);
            await Task.Delay(50, Ct);
        }
        var (_, status, _) = await closing;

        Assert.Equal((WebSocketCloseStatus)code, status);
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(8), $"Took {elapsed.Elapsed}.");
        Assert.True(echoes >= 5, $"The healthy widget exchanged only {echoes} messages meanwhile.");
        using var admin = await portal.SignInAsync(PortalTestServer.AdminEmail);
        JsonElement ended = default;
        for (var attempt = 0; attempt < 100 && ended.ValueKind == JsonValueKind.Undefined; attempt++)
        {
            var sessions = await admin.GetFromJsonAsync<JsonElement>("/api/sessions?kind=ces-proxy&status=ended", Ct);
            foreach (var session in sessions.GetProperty("items").EnumerateArray())
            {
                var events = await admin.GetFromJsonAsync<JsonElement>($"/api/sessions/{session.GetProperty("id").GetString()}/events?limit=1000", Ct);
                var last = events.GetProperty("events").EnumerateArray().Last();
                if (last.GetProperty("type").GetString() == "session_ended")
                {
                    ended = last.GetProperty("payload");
                }
            }
            await Task.Delay(50, Ct);
        }
        Assert.NotEqual(JsonValueKind.Undefined, ended.ValueKind);
        Assert.Equal(("upstream", detail), (ended.GetProperty("initiator").GetString(), ended.GetProperty("detail").GetString()));
        Assert.Equal(code, ended.GetProperty("client").GetProperty("code").GetInt32());
    }
}
