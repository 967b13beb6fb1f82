using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Diagnostics.Runtime;

namespace Portal.Benchmarks.Circuits;

/// <summary>
/// What a circuit is made of: the circuits benchmark with <c>--heap-dumps DIR</c> writes a heap dump of the server
/// at each reading (after its full collection), and <c>heap-diff BEFORE AFTER N</c> lists, by type, how many more
/// objects and bytes AFTER holds than BEFORE, per N (the tabs added between the two readings). Objects are counted when
/// they are reachable from the runtime's roots, so garbage the collection left behind does not count.
/// </summary>
internal static class HeapDiff
{
    /// <summary>A dump with the managed heap, written by the runtime's own <c>createdump</c>.</summary>
    public static async Task CreateDumpAsync(int processId, string path, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var createdump = Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "createdump");
        using var process = Process.Start(new ProcessStartInfo(createdump, ["--withheap", "-f", path, processId.ToString(CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"createdump exited with {process.ExitCode}: {await output}{await errors}");
        }
    }

    public static int Run(string[] args)
    {
        if (args.Length < 3)
        {
            Console.Error.WriteLine("usage: Benchmarks heap-diff BEFORE.dmp AFTER.dmp N [--top 60]");
            return 2;
        }
        var before = LiveByType(args[0]);
        var after = LiveByType(args[1]);
        var units = double.Parse(args[2], CultureInfo.InvariantCulture);
        var top = CommandLine.Option(args, "--top", 60);
        var rows = after.Keys.Union(before.Keys)
            .Select(type => (Type: type,
                Count: (after.GetValueOrDefault(type).Count - before.GetValueOrDefault(type).Count) / units,
                Bytes: (after.GetValueOrDefault(type).Bytes - before.GetValueOrDefault(type).Bytes) / units))
            .OrderByDescending(row => row.Bytes)
            .ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Live objects per unit ({units}): {rows.Sum(r => r.Bytes) / 1024:F1} KiB in {rows.Sum(r => r.Count):F0} objects " +
            $"(before {before.Values.Sum(v => v.Bytes) / 1048576.0:F1} MiB, after {after.Values.Sum(v => v.Bytes) / 1048576.0:F1} MiB)"));
        Console.WriteLine();
        Console.WriteLine("| bytes per unit | objects per unit | type |");
        Console.WriteLine("|---:|---:|---|");
        foreach (var row in rows.Take(top))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {row.Bytes:F0} | {row.Count:F1} | `{row.Type}` |"));
        }
        return 0;
    }

    /// <summary>Objects reachable from the roots, by type: count and bytes (each object's own size).</summary>
    private static Dictionary<string, (long Count, long Bytes)> LiveByType(string dump)
    {
        using var target = DataTarget.LoadDump(dump);
        // The dump comes from a server this machine ran, on this runtime: its DAC is beside this process's runtime (a dump
        // written by createdump does not carry the runtime's version, so ClrMD cannot match it by version itself).
        using var runtime = target.ClrVersions[0].CreateRuntime(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "libmscordaccore.so"), ignoreMismatch: true);
        var heap = runtime.Heap;
        var seen = new HashSet<ulong>();
        var pending = new Stack<ulong>();
        foreach (var root in heap.EnumerateRoots())
        {
            if (root.Object.Address != 0 && seen.Add(root.Object.Address))
            {
                pending.Push(root.Object.Address);
            }
        }
        var byType = new Dictionary<string, (long Count, long Bytes)>(StringComparer.Ordinal);
        while (pending.Count > 0)
        {
            var obj = heap.GetObject(pending.Pop());
            if (!obj.IsValid)
            {
                continue;
            }
            var type = obj.Type?.Name ?? "(unknown)";
            var (count, bytes) = byType.GetValueOrDefault(type);
            byType[type] = (count + 1, bytes + (long)obj.Size);
            foreach (var reference in obj.EnumerateReferenceAddresses(carefully: true))
            {
                if (reference != 0 && seen.Add(reference))
                {
                    pending.Push(reference);
                }
            }
        }
        return byType;
    }
}
