using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Portal.Sessions;
using Portal.Testing;

namespace Portal.IntegrationTests.Faults;

/// <summary>
/// The cost of showing clients only durable events: live subscribers get each event after the writer has committed it
/// (the writer lingers 2 ms for a batch, then one transaction). Measured from the append to the subscriber, under a
/// steady load of 2,500 events a second over 50 sessions, in Portal as it runs (real SQLite file, WAL).
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class DeliveryLatencyTests
{
    private const int Sessions = 50;
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(4);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task LiveSubscribers_GetEachEventOnceInOrderAfterItsCommit_WithinMilliseconds()
    {
        await using var portal = await PortalTestServer.StartAsync();
        var bus = portal.Services.GetRequiredService<ISessionBus>();
        var sessions = new List<string>();
        for (var i = 0; i < Sessions; i++)
        {
            sessions.Add((await bus.CreateSessionAsync(new NewSession(SessionKinds.Hub, null), Ct)).Id);
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var delays = new List<double>[Sessions];
        var subscribers = sessions.Select((id, i) =>
        {
            delays[i] = [];
            return Task.Run(async () =>
            {
                var expected = 1L;
                try
                {
                    await foreach (var e in bus.SubscribeAsync(id, 0, stop.Token))
                    {
                        var received = Stopwatch.GetTimestamp();
                        Assert.Equal(expected++, e.Seq);
                        using var payload = JsonDocument.Parse(e.Payload);
                        var sent = payload.RootElement.GetProperty("at").GetInt64();
                        delays[i].Add(Stopwatch.GetElapsedTime(sent, received).TotalMilliseconds);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
                return expected - 1;
            }, Ct);
        }).ToList();

        var producers = sessions.Select(id => Task.Run(async () =>
        {
            var clock = Stopwatch.StartNew();
            var count = 0;
            using var timer = new PeriodicTimer(Interval);
            while (clock.Elapsed < Duration && await timer.WaitForNextTickAsync(Ct))
            {
                var at = Stopwatch.GetTimestamp().ToString(CultureInfo.InvariantCulture);
                await bus.AppendAsync(id, new NewSessionEvent(EventDirections.Out, "test", EventActors.System, $$"""{"at":{{at}}}"""), Ct);
                count++;
            }
            return count;
        }, Ct)).ToList();
        var appended = await Task.WhenAll(producers);
        foreach (var id in sessions)
        {
            await bus.WaitUntilDurableAsync(id, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        }
        await Task.Delay(200, Ct);
        await stop.CancelAsync();
        var received = await Task.WhenAll(subscribers);

        Assert.Equal(appended.Select(n => (long)n), received);
        var all = delays.SelectMany(d => d).Order().ToList();
        double Percentile(double p) => all[(int)Math.Min(all.Count - 1, Math.Floor(p * all.Count))];
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{all.Count} events over {Sessions} sessions in {Duration.TotalSeconds:0} s; append to live subscriber: " +
            $"p50 {Percentile(0.5):0.0} ms, p99 {Percentile(0.99):0.0} ms, max {all[^1]:0.0} ms.");
        Assert.True(Percentile(0.99) < 250, $"p99 {Percentile(0.99):0.0} ms from append to a live subscriber.");
    }
}
