using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Portal.Sessions;
using Portal.Testing;
using Portal.Testing.Fakes;

namespace Portal.IntegrationTests.Faults;

/// <summary>
/// Model providers that fail below their API (the connection is refused, reset mid-answer, trickles one byte a second,
/// or never answers), for each wire format: every faulty turn ends within <c>ProviderTimeout</c> times its attempts, with
/// an <c>error</c> frame naming the cause and <c>agent_finished</c> <c>failed</c>, both in the session log; and a session
/// on a healthy agent streams on meanwhile, without a stall. A provider that trickles whole events forever, each inside
/// <c>ProviderTimeout</c>, is ended by <c>MaxResponseDuration</c>.
/// </summary>
[Collection(FaultsCollection.Name)]
public sealed class ProviderFaultTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly (string Fault, string Code)[] Faults =
        [("refused", "provider_unavailable"), ("reset", "stream_broken"), ("trickle", "timeout"), ("silent", "timeout")];

    [Theory]
    [InlineData("openai")]
    [InlineData("anthropic")]
    [InlineData("google")]
    public async Task FaultyProviders_EachTurnEndsWithinTheTimeout_Reported_WhileAHealthySessionStreamsOn(string provider)
    {
        await using var reset = await StartAsync(provider);
        reset.DefaultScript = new ModelScript([new TextChunk("The answer"), new TextChunk(" is"), new BreakStep()]);
        await using var trickle = await StartAsync(provider);
        trickle.DefaultScript = ModelScript.Text("never", " complete") with { ByteDelay = TimeSpan.FromSeconds(1) };
        await using var silent = await StartAsync(provider);
        silent.DefaultScript = ModelScript.Text("too", " late") with { FirstByteDelay = TimeSpan.FromMinutes(10) };
        var settings = new Dictionary<string, string?>
        {
            ["Portal:Agents:ProviderTimeout"] = "00:00:02",
            ["Portal:Agents:MaxRetries"] = "1",
            ["Portal:Agents:RetryDelay"] = "00:00:00.100",
            ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.040",
            ["Portal:Agents:Profiles:0:Name"] = "Healthy",
            ["Portal:Agents:Profiles:0:Provider"] = "offline",
        };
        var servers = new Dictionary<string, Uri?> { ["refused"] = null, ["reset"] = reset.BaseAddress, ["trickle"] = trickle.BaseAddress, ["silent"] = silent.BaseAddress };
        var index = 1;
        foreach (var (fault, address) in servers)
        {
            AddProfile(settings, index++, fault, provider, address ?? new Uri("http://127.0.0.1:9/")); // nothing listens on the discard port
        }
        await using var portal = await PortalTestServer.StartAsync(settings);
        var cookies = await AgentSocketClient.SignInAsync(portal, PortalTestServer.AdminEmail);
        await using var healthy = await AgentSocketClient.ConnectAsync(portal, cookies, "agent=Healthy");
        var clients = new Dictionary<string, AgentSocketClient>();
        foreach (var (fault, _) in Faults)
        {
            clients[fault] = await AgentSocketClient.ConnectAsync(portal, cookies, $"agent={fault}");
        }

        await healthy.SendInputAsync(string.Join(' ', Enumerable.Range(0, 120).Select(i => $"word{i}")));
        await healthy.WaitForAsync("response_delta");
        var arrivals = new List<TimeSpan>();
        var clock = Stopwatch.StartNew();
        var streaming = Task.Run(async () =>
        {
            while (true)
            {
                var frame = await healthy.ReceiveAsync(Ct) ?? throw new InvalidOperationException("The healthy session's connection closed.");
                if (frame.Type == "response_delta")
                {
                    lock (arrivals)
                    {
                        arrivals.Add(clock.Elapsed);
                    }
                }
                if (frame.Type == "agent_finished")
                {
                    return frame;
                }
            }
        }, Ct);
        var turns = Faults.Select(async f =>
        {
            var client = clients[f.Fault];
            var started = Stopwatch.StartNew();
            await client.SendInputAsync("hello");
            var finished = await client.WaitForAsync("agent_finished", timeout: TimeSpan.FromSeconds(20));
            return (f.Fault, f.Code, Took: started.Elapsed, Finished: finished, Client: client);
        }).ToList();
        var ended = await Task.WhenAll(turns);
        var faultsOver = clock.Elapsed;
        var healthyFinished = await streaming.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        var bus = portal.Services.GetRequiredService<ISessionBus>();
        foreach (var (fault, code, took, finished, client) in ended)
        {
            Assert.Equal("failed", finished.Text("status"));
            var error = client.Received.Last(f => f.Type == "error");
            Assert.Equal((code, false), (error.Text("code"), error.Payload.GetProperty("retrying").GetBoolean()));
            // Two attempts of at most ProviderTimeout each, the retry delay between them, and the rest of the turn.
            Assert.True(took < TimeSpan.FromSeconds(8), $"The {fault} turn took {took}.");
            var log = await bus.ReadAsync(client.SessionId!, 0, 1_000, Ct);
            Assert.Contains(log, e => e.Type == "error" && e.Payload.Contains($"\"code\":\"{code}\"", StringComparison.Ordinal));
            Assert.Contains(log, e => e.Type == "agent_finished" && e.Payload.Contains("\"status\":\"failed\"", StringComparison.Ordinal));
            await client.DisposeAsync();
        }
        Assert.Equal("completed", healthyFinished.Text("status"));
        List<TimeSpan> during;
        lock (arrivals)
        {
            during = arrivals.Where(a => a <= faultsOver).ToList();
        }
        var longestGap = during.Zip(during.Skip(1), (a, b) => b - a).DefaultIfEmpty().Max();
        Assert.True(during.Count >= 20, $"The healthy session streamed only {during.Count} deltas while the faulty turns ran ({faultsOver}).");
        Assert.True(longestGap < TimeSpan.FromSeconds(1.5), $"The healthy session's stream stalled for {longestGap}.");
    }

    /// <summary>
    /// A provider that sends a small, whole event every 200 ms and never ends its stream: each event is well inside
    /// <c>ProviderTimeout</c> (10 s here), so only <c>MaxResponseDuration</c> (2 s here) ends the turn. It fails with
    /// <c>timeout</c>, not retried since text had streamed, the text so far kept as an incomplete reply. Meanwhile a
    /// session on a healthy agent answers turn after turn (each well under 2 s: the bound is per response, and applies
    /// to the built-in agent too) without a stall.
    /// </summary>
    [Theory]
    [InlineData("openai")]
    [InlineData("anthropic")]
    [InlineData("google")]
    public async Task ProviderTricklingEventsForever_TurnEndsAtMaxResponseDuration_PartialReplyKept_WhileAnotherSessionStreamsOn(string provider)
    {
        await using var trickle = await StartAsync(provider);
        trickle.DefaultScript = ModelScript.Endless("more ", every: TimeSpan.FromMilliseconds(200));
        var settings = new Dictionary<string, string?>
        {
            ["Portal:Agents:ProviderTimeout"] = "00:00:10",
            ["Portal:Agents:MaxResponseDuration"] = "00:00:02",
            ["Portal:Agents:MaxRetries"] = "1",
            ["Portal:Agents:RetryDelay"] = "00:00:00.100",
            ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.015",
            ["Portal:Agents:Profiles:0:Name"] = "Healthy",
            ["Portal:Agents:Profiles:0:Provider"] = "offline",
        };
        AddProfile(settings, 1, "trickle", provider, trickle.BaseAddress);
        await using var portal = await PortalTestServer.StartAsync(settings);
        var cookies = await AgentSocketClient.SignInAsync(portal, PortalTestServer.AdminEmail);
        await using var healthy = await AgentSocketClient.ConnectAsync(portal, cookies, "agent=Healthy");
        await using var client = await AgentSocketClient.ConnectAsync(portal, cookies, "agent=trickle");

        var arrivals = new List<TimeSpan>();
        var clock = Stopwatch.StartNew();
        var over = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var healthyTurns = Task.Run(async () =>
        {
            var statuses = new List<string?>();
            while (!over.Task.IsCompleted)
            {
                await healthy.SendInputAsync($"hello {statuses.Count}");
                while (await healthy.ReceiveAsync(Ct) is { } frame)
                {
                    if (frame.Type == "response_delta")
                    {
                        lock (arrivals)
                        {
                            arrivals.Add(clock.Elapsed);
                        }
                    }
                    if (frame.Type == "agent_finished")
                    {
                        statuses.Add(frame.Text("status"));
                        break;
                    }
                }
            }
            return statuses;
        }, Ct);
        var started = Stopwatch.StartNew();
        await client.SendInputAsync("hello");
        var finished = await client.WaitForAsync("agent_finished", timeout: TimeSpan.FromSeconds(20));
        var took = started.Elapsed;
        var faultOver = clock.Elapsed;
        over.SetResult();
        var statuses = await healthyTurns.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal("failed", finished.Text("status"));
        var error = Assert.Single(client.Received, f => f.Type == "error");
        Assert.Equal(("timeout", false), (error.Text("code"), error.Payload.GetProperty("retrying").GetBoolean()));
        Assert.Equal("The provider's reply took longer than 2 s; stopped.", error.Text("message"));
        Assert.Single(trickle.Requests); // text had streamed: not retried
        Assert.True(took >= TimeSpan.FromSeconds(2) && took < TimeSpan.FromSeconds(6), $"The trickling turn took {took}.");
        var streamed = client.Deltas();
        Assert.StartsWith("more more ", streamed, StringComparison.Ordinal);
        var partial = Assert.Single(client.Received, f => f.Type == "response_item");
        Assert.Equal("incomplete", partial.Text("status"));
        Assert.Equal(streamed, partial.Payload.GetProperty("content")[0].GetProperty("text").GetString());
        var log = await portal.Services.GetRequiredService<ISessionBus>().ReadAsync(client.SessionId!, 0, 1_000, Ct);
        Assert.Contains(log, e => e.Type == "error" && e.Payload.Contains("took longer than 2 s", StringComparison.Ordinal));
        Assert.Contains(log, e => e.Type == "response_item" && e.Payload.Contains("\"status\":\"incomplete\"", StringComparison.Ordinal)
            && e.Payload.Contains(streamed, StringComparison.Ordinal));
        Assert.Contains(log, e => e.Type == "agent_finished" && e.Payload.Contains("\"status\":\"failed\"", StringComparison.Ordinal));

        Assert.True(statuses.Count >= 2, $"The healthy session answered {statuses.Count} turn(s) while the trickling turn ran.");
        Assert.All(statuses, s => Assert.Equal("completed", s));
        List<TimeSpan> during;
        lock (arrivals)
        {
            during = arrivals.Where(a => a <= faultOver).ToList();
        }
        var longestGap = during.Zip(during.Skip(1), (a, b) => b - a).DefaultIfEmpty().Max();
        Assert.True(during.Count >= 20, $"The healthy session streamed only {during.Count} deltas while the trickling turn ran ({faultOver}).");
        Assert.True(longestGap < TimeSpan.FromSeconds(1.5), $"The healthy session's stream stalled for {longestGap}.");
    }

    /// <summary>Agent profile <paramref name="index"/>: <paramref name="provider"/>'s wire format at <paramref name="baseAddress"/>.</summary>
    private static void AddProfile(Dictionary<string, string?> settings, int index, string name, string provider, Uri baseAddress)
    {
        settings[$"Portal:Agents:Profiles:{index}:Name"] = name;
        settings[$"Portal:Agents:Profiles:{index}:Provider"] = provider;
        settings[$"Portal:Agents:Profiles:{index}:Model"] = provider switch { "anthropic" => "claude-test", "google" => "gemini-test", _ => "gpt-test" };
        settings[$"Portal:Agents:Profiles:{index}:BaseUrl"] = provider == "openai" ? new Uri(baseAddress, "/v1").ToString() : baseAddress.ToString();
        settings[$"Portal:Agents:Profiles:{index}:ApiKey"] = "test-key-0123456789";
    }

    private static async Task<FakeModelServer> StartAsync(string provider) => provider switch
    {
        "anthropic" => await FakeAnthropicServer.StartAsync(),
        "google" => await FakeGeminiServer.StartAsync(),
        _ => await FakeOpenAiServer.StartAsync(),
    };
}
