using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Runtime;
using System.Text;
using System.Text.Json;

namespace Portal.Benchmarks.Circuits;

/// <summary>
/// What the benchmark reads inside a server process it started, through a .NET startup hook
/// (<c>DOTNET_STARTUP_HOOKS</c> naming this assembly), so Portal itself exposes nothing new: the live circuits and the
/// render batches from ASP.NET Core's own Blazor metrics, and on request a full blocking, compacting garbage collection
/// followed by the managed heap's size. It listens on <c>127.0.0.1:PORTAL_BENCH_PROBE_PORT</c>; one line in ("read"
/// or "collect"), one JSON line out.
/// </summary>
internal static class ServerProbe
{
    public const string PortVariable = "PORTAL_BENCH_PROBE_PORT";

    private static long _circuits;
    private static long _renderBatches;
    private static MeterListener? _listener;

    public static void Start()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable(PortVariable), out var port))
        {
            return;
        }
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name is "aspnetcore.components.circuit.active" or "aspnetcore.components.render_diff.duration")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _circuits, value));
        _listener.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref _renderBatches));
        _listener.Start();
        var server = new TcpListener(IPAddress.Loopback, port);
        server.Start();
        new Thread(() => Serve(server)) { IsBackground = true, Name = "benchmark probe" }.Start();
    }

    private static void Serve(TcpListener server)
    {
        while (true)
        {
            using var client = server.AcceptTcpClient();
            try
            {
                Answer(client.GetStream());
            }
            catch (IOException)
            {
                // A caller that only checked the port is listening, and left.
            }
        }
    }

    private static void Answer(NetworkStream stream)
    {
        using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
        var request = reader.ReadLine();
        if (request is null)
        {
            return;
        }
        var collect = request == "collect";
        if (collect)
        {
            GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        var reading = new ProbeReading(
            Interlocked.Read(ref _circuits),
            Interlocked.Read(ref _renderBatches),
            GC.GetTotalMemory(forceFullCollection: false),
            GC.GetGCMemoryInfo().TotalCommittedBytes,
            collect);
        stream.Write(JsonSerializer.SerializeToUtf8Bytes(reading));
        stream.Write("\n"u8);
    }

    /// <summary>Asks the probe in the process listening on <paramref name="port"/>.</summary>
    public static async Task<ProbeReading> ReadAsync(int port, bool collect, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        using var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(collect ? "collect\n" : "read\n"), cancellationToken);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var line = await reader.ReadLineAsync(cancellationToken) ?? throw new InvalidOperationException("The probe closed without answering.");
        return JsonSerializer.Deserialize<ProbeReading>(line)!;
    }
}

/// <summary>One reading of a server process from the inside.</summary>
/// <param name="Circuits">Blazor circuits in memory (aspnetcore.components.circuit.active).</param>
/// <param name="RenderBatches">Render batches so far, every circuit together (aspnetcore.components.render_diff.duration measurements).</param>
/// <param name="ManagedHeapBytes">Bytes in use on the managed heap (after the collection when <paramref name="Collected"/>).</param>
/// <param name="CommittedBytes">Memory the garbage collector had committed at its last collection.</param>
/// <param name="Collected">Whether a full compacting collection ran just before.</param>
internal sealed record ProbeReading(long Circuits, long RenderBatches, long ManagedHeapBytes, long CommittedBytes, bool Collected);
