using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Portal.Components.Admin;
using Portal.Sessions;

namespace Portal.Tests.Components.Admin;

public sealed class LiveTailTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static SessionEvent E(long seq) => new("s", seq, DateTimeOffset.UnixEpoch, EventDirections.Out, "delta", EventActors.Agent, "{}", 2);

    [Fact]
    public async Task Follow_AFastStream_DeliversEveryEventInOrder_InFewBatches()
    {
        var source = Channel.CreateUnbounded<SessionEvent>();
        var delivered = new List<SessionEvent>();
        var batches = 0;
        var ended = new TaskCompletionSource();
        var stopwatch = Stopwatch.StartNew();
        await using (var tail = new LiveTail(ct => source.Reader.ReadAllAsync(ct), batch =>
        {
            lock (delivered)
            {
                batches++;
                delivered.AddRange(batch);
            }
            return Task.CompletedTask;
        }, () => { ended.TrySetResult(); return Task.CompletedTask; }, TimeSpan.FromMilliseconds(50)))
        {
            for (var i = 1; i <= 2_000; i++)
            {
                await source.Writer.WriteAsync(E(i), Ct);
                if (i % 100 == 0)
                {
                    await Task.Delay(10, Ct);
                }
            }
            source.Writer.Complete();
            await ended.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        }

        Assert.Equal(Enumerable.Range(1, 2_000).Select(i => (long)i), delivered.Select(e => e.Seq));
        // At most one batch per 50 ms (plus the last one when the stream ended).
        Assert.InRange(batches, 1, stopwatch.Elapsed.TotalMilliseconds / 50 + 2);
        Assert.True(batches < 100, $"{batches} batches for 2,000 events");
    }

    [Fact]
    public async Task Dispose_StopsFollowing_AndDoesNotReportAnEnd()
    {
        var endedCalls = 0;
        var tail = new LiveTail(Forever, _ => Task.CompletedTask, () => { endedCalls++; return Task.CompletedTask; });

        await tail.DisposeAsync();

        Assert.Equal(0, endedCalls);
    }

    private static async IAsyncEnumerable<SessionEvent> Forever([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken);
        yield break;
    }
}
