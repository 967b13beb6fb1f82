using System.Globalization;
using System.Runtime;
using static Portal.Benchmarks.CommandLine;

namespace Portal.Benchmarks.Proxy;

/// <summary>
/// The CES proxy against its alternatives in one run: direct to a loopback echo upstream (the limit), through nginx,
/// and through Portal (text frames recorded, and counted only). The echo upstream, nginx and each Portal run in a
/// process of their own and stay up the whole run; latency is measured in interleaved rounds (every path once per
/// round, the order rotating) and reported as the median over rounds, so that the machine's drift hits all paths
/// alike. Then 200 audio streams per path, then memory per idle proxied pair in fresh processes.
/// </summary>
internal static class ProxyBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var audioSeconds = Option(args, "--seconds", 60);
        var idlePairs = Option(args, "--idle", 2000);
        var roundTrips = Option(args, "--round-trips", 2000);
        var rounds = Option(args, "--rounds", 5);
        var warmupSeconds = Option(args, "--warmup", 10);
        await using var echo = await EchoProcess.StartAsync();
        Console.WriteLine($"CES proxy benchmark: {Environment.ProcessorCount} cores, .NET {Environment.Version}, client server GC {GCSettings.IsServerGC}");
        Console.WriteLine($"echo upstream (own process) on 127.0.0.1:{echo.Port}; {rounds} rounds of {roundTrips} round trips on 1 connection and " +
            $"{roundTrips / 10} on each of 100; audio {audioSeconds} s; {idlePairs} idle pairs");

        var paths = new List<IIntermediary>();
        foreach (var start in Variants(echo.Port))
        {
            paths.Add(await start());
        }
        try
        {
            foreach (var path in paths.Skip(1))
            {
                // Two rounds of load with pauses: .NET's tiered compiler works in the background and needs spare CPU
                // to finish; measured right after starting, Portal would still be half jitted.
                for (var round = 0; round < 2; round++)
                {
                    await Workloads.WarmUpAsync(path.WebSocketUri, TimeSpan.FromSeconds(warmupSeconds));
                    await Task.Delay(TimeSpan.FromSeconds(5));
                }
            }

            var one = paths.ToDictionary(p => p.Name, _ => new List<Percentiles>());
            var hundred = paths.ToDictionary(p => p.Name, _ => new List<Percentiles>());
            var cpu = paths.ToDictionary(p => p.Name, _ => TimeSpan.Zero);
            var frames = paths.ToDictionary(p => p.Name, _ => 0L);
            for (var round = 0; round < rounds; round++)
            {
                for (var i = 0; i < paths.Count; i++)
                {
                    var path = paths[(i + round) % paths.Count];
                    var before = path.CpuTime();
                    var single = await Workloads.LatencyAsync(path.WebSocketUri, 1, roundTrips, warmupEach: 200);
                    var many = await Workloads.LatencyAsync(path.WebSocketUri, 100, roundTrips / 10, warmupEach: 20);
                    cpu[path.Name] += path.CpuTime() - before;
                    frames[path.Name] += 2L * (single.Count + 200 + many.Count + 100 * 20);
                    one[path.Name].Add(single);
                    hundred[path.Name].Add(many);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  round {round + 1} {path.Name}: 1 conn p50 {single.P50:0} us p99 {single.P99:0} us; 100 conns p50 {many.P50:0} us p99 {many.P99:0} us"));
                }
            }

            var audio = new Dictionary<string, AudioResult>();
            var audioCpu = new Dictionary<string, double>();
            foreach (var path in audioSeconds > 0 ? paths : [])
            {
                var before = path.CpuTime();
                audio[path.Name] = await Workloads.AudioAsync(path.WebSocketUri, 200, TimeSpan.FromSeconds(audioSeconds));
                audioCpu[path.Name] = (path.CpuTime() - before).TotalMilliseconds / (audio[path.Name].Sent * 2 / 1000.0);
                var a = audio[path.Name];
                Console.WriteLine($"  audio {path.Name}: {a.Sent} frames sent, {a.Received} back, {a.Lost} lost; round trip p50 {a.RoundTripMs.P50:0.00} ms p99 {a.RoundTripMs.P99:0.00} ms");
            }

            var direct = paths[0].Name;
            var nginx = paths[1].Name;
            double Median(List<Percentiles> runs, Func<Percentiles, double> pick) => runs.Select(pick).Order().ElementAt(runs.Count / 2);
            Console.WriteLine();
            Console.WriteLine($"Latency, 256-byte text frames, median of {rounds} interleaved rounds:");
            Console.WriteLine();
            Console.WriteLine("| path | 1 conn p50 | 1 conn p99 | added p50 (1) | 100 conns p50 | 100 conns p99 | added p50 (100) | CPU per 1k text frames |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var path in paths)
            {
                var name = path.Name;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {Median(one[name], p => p.P50):0} us | {Median(one[name], p => p.P99):0} us | " +
                    $"{Median(one[name], p => p.P50) - Median(one[direct], p => p.P50):0} us | " +
                    $"{Median(hundred[name], p => p.P50):0} us | {Median(hundred[name], p => p.P99):0} us | " +
                    $"{Median(hundred[name], p => p.P50) - Median(hundred[direct], p => p.P50):0} us | " +
                    $"{(name == direct ? "-" : (cpu[name].TotalMilliseconds / (frames[name] / 1000.0)).ToString("0.0 'ms'", CultureInfo.InvariantCulture))} |"));
            }
            if (audio.Count > 0)
            {
                Console.WriteLine();
                Console.WriteLine($"Audio: 200 streams of 640-byte binary frames every 20 ms for {audioSeconds} s, echoed:");
                Console.WriteLine();
                Console.WriteLine("| path | frames sent | lost | round trip p50 | round trip p99 | added p99 | CPU per 1k audio frames |");
                Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
                foreach (var path in paths)
                {
                    var a = audio[path.Name];
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {path.Name} | {a.Sent:N0} | {a.Lost} | {a.RoundTripMs.P50:0.00} ms | {a.RoundTripMs.P99:0.00} ms | " +
                        $"{a.RoundTripMs.P99 - audio[direct].RoundTripMs.P99:0.00} ms | {(path.Name == direct ? "-" : audioCpu[path.Name].ToString("0.0 'ms'", CultureInfo.InvariantCulture))} |"));
                }
            }
            Console.WriteLine();
            foreach (var path in paths.Skip(2))
            {
                var ratio1 = (Median(one[path.Name], p => p.P50) - Median(one[direct], p => p.P50)) / (Median(one[nginx], p => p.P50) - Median(one[direct], p => p.P50));
                var ratio100 = (Median(hundred[path.Name], p => p.P50) - Median(hundred[direct], p => p.P50)) / (Median(hundred[nginx], p => p.P50) - Median(hundred[direct], p => p.P50));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{path.Name}: added p50 {ratio1:0.00}x nginx's with 1 connection, {ratio100:0.00}x with 100 (target: at most 1.5x)"));
            }
        }
        finally
        {
            foreach (var path in paths)
            {
                await path.DisposeAsync();
            }
        }

        if (idlePairs > 0)
        {
            Console.WriteLine();
            Console.WriteLine($"Memory per idle proxied pair ({idlePairs} pairs, fresh processes):");
            Console.WriteLine();
            Console.WriteLine("| path | resident memory before | after | per idle pair |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var start in Variants(echo.Port).Skip(1))
            {
                await using var path = await start();
                var (before, after) = await IdleResidentBytesAsync(path, idlePairs);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {path.Name} | {before / 1048576.0:0.0} MiB | {after / 1048576.0:0.0} MiB | {(after - before) / 1024.0 / idlePairs:0.0} KiB |"));
            }
        }
        return 0;
    }

    private static IEnumerable<Func<Task<IIntermediary>>> Variants(int echoPort) =>
    [
        () => Task.FromResult<IIntermediary>(new Direct(echoPort)),
        async () => await Nginx.StartAsync(echoPort),
        async () => await PortalProxy.StartAsync(echoPort, recordFrames: true),
        async () => await PortalProxy.StartAsync(echoPort, recordFrames: false),
    ];

    private static async Task<(long Before, long After)> IdleResidentBytesAsync(IIntermediary path, int pairs)
    {
        // Warm up (JIT, pools), then measure resident memory before and after opening the idle pairs.
        await Workloads.WarmUpAsync(path.WebSocketUri, TimeSpan.FromSeconds(5));
        await Workloads.CloseAllAsync(await Workloads.OpenIdleAsync(path.WebSocketUri, 100));
        await Task.Delay(3_000);
        var before = path.ResidentBytes();
        var sockets = await Workloads.OpenIdleAsync(path.WebSocketUri, pairs);
        await Task.Delay(10_000);
        var after = path.ResidentBytes();
        await Workloads.CloseAllAsync(sockets);
        return (before, after);
    }
}
