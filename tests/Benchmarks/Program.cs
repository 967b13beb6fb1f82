using Portal.Benchmarks;
using Portal.Benchmarks.Admin;
using Portal.Benchmarks.Agents;
using Portal.Benchmarks.Circuits;
using Portal.Benchmarks.Proxy;

// dotnet run -c Release --project tests/Benchmarks -- ingest [--events N] [--sessions S] [--producers P] [--runs R]
// dotnet run -c Release --project tests/Benchmarks -- proxy [--seconds 60] [--idle 2000] [--round-trips 5000]
// dotnet run -c Release --project tests/Benchmarks -- record [--frames 200000] [--connections 100] [--runs 5]
// dotnet run -c Release --project tests/Benchmarks -- agents [--sessions 200] [--rate 50] [--seconds 60] [--warmup 15]
// dotnet run -c Release --project tests/Benchmarks -- admin-query [--sessions 100000] [--events 10000000] [--runs 15] [--db path]
// dotnet run -c Release --project tests/Benchmarks -- circuits [--tabs 25,50,100] [--runs 2] [--conversations 20] [--compressed] [--stream-tabs 20] [--rate 50] [--seconds 30] [--heap-dumps DIR]
// dotnet run -c Release --project tests/Benchmarks -- heap-diff BEFORE.dmp AFTER.dmp N   (dumps from circuits --heap-dumps)
return args.FirstOrDefault() switch
{
    "ingest" => await IngestBenchmark.RunAsync(args[1..]),
    "proxy" => await ProxyBenchmark.RunAsync(args[1..]),
    "record" => await RecordBenchmark.RunAsync(args[1..]),
    "agents" => await AgentStreamBenchmark.RunAsync(args[1..]),
    "admin-query" => await AdminQueryBenchmark.RunAsync(args[1..]),
    "circuits" => await CircuitBenchmark.RunAsync(args[1..]),
    "heap-diff" => HeapDiff.Run(args[1..]),
    "echo" => await EchoUpstream.ServeUntilKilledAsync(args[1..]),
    "minimal-blazor" => await MinimalBlazorApp.ServeUntilKilledAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Benchmarks ingest [--events 200000] [--sessions 100] [--producers 4] [--runs 5]");
    Console.Error.WriteLine("       Benchmarks proxy [--seconds 60] [--idle 2000] [--round-trips 5000]");
    Console.Error.WriteLine("       Benchmarks record [--frames 200000] [--connections 100] [--runs 5]");
    Console.Error.WriteLine("       Benchmarks agents [--sessions 200] [--rate 50] [--seconds 60] [--warmup 15]");
    Console.Error.WriteLine("       Benchmarks admin-query [--sessions 100000] [--events 10000000] [--runs 15] [--db path]");
    Console.Error.WriteLine("       Benchmarks circuits [--tabs 25,50,100] [--runs 2] [--settle 20] [--conversations 20] [--compressed] [--stream-tabs 20] [--rate 50] [--seconds 30] [--warmup 10] [--warmup-tabs 100] [--paragraph-every 0] [--variant-env \"KEY=value;KEY=value\"]... [--heap-dumps DIR]");
    Console.Error.WriteLine("       Benchmarks heap-diff BEFORE.dmp AFTER.dmp N [--top 60]");
    return 2;
}
