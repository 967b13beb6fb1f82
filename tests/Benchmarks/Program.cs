using Portal.Benchmarks;

// dotnet run -c Release --project tests/Benchmarks -- ingest [--events N] [--sessions S] [--producers P] [--runs R]
return args.FirstOrDefault() switch
{
    "ingest" => await IngestBenchmark.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Benchmarks ingest [--events 200000] [--sessions 100] [--producers 4] [--runs 5]");
    return 2;
}
