using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Portal.IntegrationTests.Security;

/// <summary>Keeps every log entry of every category and level: the formatted message, each structured value, and the scopes.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _entries = new();

    public IReadOnlyCollection<string> Entries => _entries;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            entries.Enqueue($"{category} scope: {state} {Values(state)}");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue($"[{logLevel}] {category}: {formatter(state, exception)} | {Values(state)} | {exception}");

        private static string Values<TState>(TState state) => state is IEnumerable<KeyValuePair<string, object?>> values
            ? string.Join("; ", values.Select(v => $"{v.Key}={v.Value}"))
            : "";
    }
}
