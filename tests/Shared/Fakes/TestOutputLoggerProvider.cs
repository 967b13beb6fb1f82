using Microsoft.Extensions.Logging;

namespace Portal.Testing;

/// <summary>
/// Sends a test server's log to the output of the test that started it (captured when the provider is made, so
/// messages from Kestrel's threads land there too). Warning and up, unless PORTAL_TEST_LOG names another level.
/// </summary>
public sealed class TestOutputLoggerProvider : ILoggerProvider
{
    private static readonly LogLevel Minimum =
        Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("PORTAL_TEST_LOG"), out var level) ? level : LogLevel.Warning;

    private readonly ITestOutputHelper? _output = TestContext.Current.TestOutputHelper;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _output);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ITestOutputHelper? output) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= Minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel) || output is null)
            {
                return;
            }
            try
            {
                output.WriteLine($"[{logLevel}] {category}: {formatter(state, exception)}{(exception is null ? "" : "\n" + exception)}");
            }
            catch (InvalidOperationException)
            {
                // The test that started this server has finished.
            }
        }
    }
}
