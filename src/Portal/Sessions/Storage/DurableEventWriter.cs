using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Portal.Sessions.Search;

namespace Portal.Sessions.Storage;

/// <summary>
/// Writes appended events to SQLite in batched transactions, off the request path. Its queue is bounded: when it
/// is full, appends wait (<see cref="WaitForRoomAsync"/>); nothing is ever dropped. A failed batch is retried with
/// backoff until it commits, and the failure is reported through <see cref="Health"/>. Stopping the host drains
/// the queue after the server has stopped accepting requests.
/// </summary>
internal sealed partial class DurableEventWriter : IHostedLifecycleService, IDisposable
{
    private static readonly TimeSpan HousekeepingInterval = TimeSpan.FromSeconds(30);
    private readonly Channel<WriteItem> _queue;
    private readonly SessionsOptions _options;
    private readonly PortalDatabase _database;
    private readonly TimeProvider _time;
    private readonly ILogger<DurableEventWriter> _logger;
    private readonly CancellationTokenSource _abort = new();
    private readonly List<WriteItem> _batch = [];
    private static readonly TimeSpan TouchInterval = TimeSpan.FromSeconds(1);
    private readonly Dictionary<SessionState, (long Seq, long Time)> _batchSessions = [];
    /// <summary>Sessions with events written since their row was last updated.</summary>
    private readonly Dictionary<SessionState, (long Seq, long Time)> _untouched = [];
    private long _lastTouch;
    private readonly Lock _roomGate = new();
    private TaskCompletionSource _room = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _stopped;
    private Task? _loop;
    private Task? _checkpoints;
    private readonly CancellationTokenSource _stopCheckpoints = new();
    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(1);
    private long _lastHousekeeping;
    private long _walRestarts;
    /// <summary>Rows in the search backlog (as far as this writer knows: a deleted session takes its rows with it).</summary>
    private long _backlogRows;
    /// <summary>When the oldest text in the backlog was stored.</summary>
    private long _backlogSince;
    private long _backlogFlushes;

    /// <summary>A batch this large means the writer is busy: its text goes to the search backlog (see <see cref="SessionsOptions.SearchIndexDelay"/>).</summary>
    internal const int BusyBatch = 64;

    public DurableEventWriter(IOptions<SessionsOptions> options, PortalDatabase database, TimeProvider time, ILogger<DurableEventWriter> logger)
    {
        _options = options.Value;
        _database = database;
        _time = time;
        _logger = logger;
        _queue = Channel.CreateBounded<WriteItem>(new BoundedChannelOptions(_options.WriterQueueCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public WriterHealth Health { get; } = new();

    /// <summary>Called by the bus's housekeeping between batches.</summary>
    public Func<int>? Housekeeping { get; set; }

    public int QueueDepth => _queue.Reader.Count;

    /// <summary>RESTART checkpoints run because the WAL had grown past <see cref="SessionsOptions.WalRestartBytes"/>.</summary>
    public long WalRestarts => Interlocked.Read(ref _walRestarts);

    /// <summary>Texts waiting in the search backlog.</summary>
    public long SearchBacklog => Interlocked.Read(ref _backlogRows);

    /// <summary>Times the search backlog was moved into the full-text index.</summary>
    public long SearchBacklogFlushes => Interlocked.Read(ref _backlogFlushes);

    /// <summary>Hands an event to the writer if there is room. Called under the session's lock, so events of a session arrive in seq order.</summary>
    public bool TryEnqueue(SessionState state, SessionEvent appended) => _queue.Writer.TryWrite(new WriteItem(state, appended));

    /// <summary>
    /// Waits until the queue has drained to half its capacity. Waking producers in bulk after each batch, rather than
    /// one wake-up per dequeued event, keeps a saturated writer from spending its core on scheduling.
    /// </summary>
    public async ValueTask WaitForRoomAsync(CancellationToken cancellationToken)
    {
        Task room;
        lock (_roomGate)
        {
            if (_stopped)
            {
                throw new InvalidOperationException("Portal is shutting down; the session log accepts no more events.");
            }
            if (_queue.Reader.Count < _options.WriterQueueCapacity)
            {
                return;
            }
            room = _room.Task;
        }
        if (Health.RecordBackpressure())
        {
            Log.QueueFull(_logger, _options.WriterQueueCapacity, Health.LastError ?? "writing");
        }
        await room.WaitAsync(cancellationToken);
    }

    private void SignalRoom(bool stopping = false)
    {
        TaskCompletionSource released;
        lock (_roomGate)
        {
            _stopped |= stopping;
            if (!stopping && _queue.Reader.Count > _options.WriterQueueCapacity / 2)
            {
                return;
            }
            released = _room;
            _room = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        released.TrySetResult();
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Opened here, not in the loop: a database that cannot be opened fails the start, not some later moment.
        var connection = _database.OpenConnection();
        // A lock held elsewhere makes a batch fail after this long, so it is reported and retried, not waited out silently.
        connection.DefaultTimeout = (int)Math.Ceiling(_options.WriterBusyTimeout.TotalSeconds);
        // Clients see an event once its batch commits, so no commit may wait for a checkpoint (which copies the WAL into
        // the database and fsyncs it, up to a second on a busy disk): the writer never checkpoints, its own loop does.
        using (var pragma = connection.CreateCommand())
        {
            // When the log starts over, its file is cut back to the size at which it does (see RestartWalIfLong).
            // busy_timeout: SQLite's own wait for a lock held elsewhere, before Microsoft.Data.Sqlite's retries (up to the
            // DefaultTimeout above) take over; it is what lets a RESTART checkpoint wait briefly for readers.
            pragma.CommandText = $"PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={_options.WalRestartBytes}; PRAGMA busy_timeout=100;";
            pragma.ExecuteNonQuery();
        }
        var checkpointer = _database.OpenConnection();
        _loop = Task.Run(() => RunAsync(connection), CancellationToken.None);
        _checkpoints = Task.Run(() => CheckpointAsync(checkpointer), CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Runs after the server and the other services have stopped: everything appended until now gets written.</summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        SignalRoom(stopping: true);
        if (_loop is null)
        {
            return;
        }
        var pending = QueueDepth;
        try
        {
            await _loop.WaitAsync(cancellationToken);
            Log.Flushed(_logger, pending);
        }
        catch (OperationCanceledException)
        {
            Log.FlushTimedOut(_logger, QueueDepth);
            await _abort.CancelAsync();
        }
        await _stopCheckpoints.CancelAsync();
        if (_checkpoints is not null)
        {
            await _checkpoints;
        }
    }

    public void Dispose()
    {
        _abort.Dispose();
        _stopCheckpoints.Dispose();
    }

    /// <summary>
    /// Copies the WAL into the database once a second, on a connection of its own, beside the writer (a PASSIVE
    /// checkpoint waits for nobody). The writer starts the WAL over once it has all been copied; under a load that never
    /// rests, the writer commits during every checkpoint and that moment never comes: see <c>RestartWalIfLong</c>.
    /// </summary>
    private async Task CheckpointAsync(SqliteConnection connection)
    {
        using var owned = connection;
        using var checkpoint = connection.CreateCommand();
        checkpoint.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
        while (true)
        {
            try
            {
                await Task.Delay(CheckpointInterval, _time, _stopCheckpoints.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            try
            {
                checkpoint.ExecuteNonQuery();
            }
            catch (SqliteException ex)
            {
                Log.CheckpointFailed(_logger, ex.Message); // the next one will catch up; the writer's own failures are reported
            }
        }
        try
        {
            checkpoint.ExecuteNonQuery(); // what the last batches added
        }
        catch (SqliteException ex)
        {
            Log.CheckpointFailed(_logger, ex.Message);
        }
    }

    private async Task RunAsync(SqliteConnection connection)
    {
        using var owned = connection;
        using var insert = connection.CreateCommand();
        insert.CommandText =
            "INSERT INTO SessionEvents (SessionKey, Seq, Time, Direction, Type, Actor, Payload, Size) " +
            "VALUES ($k, $s, $t, $d, $y, $a, $p, $z)";
        var pKey = insert.Parameters.Add("$k", SqliteType.Integer);
        var pSeq = insert.Parameters.Add("$s", SqliteType.Integer);
        var pTime = insert.Parameters.Add("$t", SqliteType.Integer);
        var pDirection = insert.Parameters.Add("$d", SqliteType.Text);
        var pType = insert.Parameters.Add("$y", SqliteType.Text);
        var pActor = insert.Parameters.Add("$a", SqliteType.Text);
        var pPayload = insert.Parameters.Add("$p", SqliteType.Text);
        var pSize = insert.Parameters.Add("$z", SqliteType.Integer);
        // Message text goes into the full-text index in the same transaction as its event, so a search never finds
        // text whose event is not stored, nor misses a stored one.
        using var index = connection.CreateCommand();
        index.CommandText = $"INSERT INTO {SessionSearch.Table} (rowid, Text) VALUES ($r, $x)";
        var pRow = index.Parameters.Add("$r", SqliteType.Integer);
        var pText = index.Parameters.Add("$x", SqliteType.Text);
        // Under load the text waits in the backlog, written in the same transaction as its event (so it survives a
        // crash), and goes into the index in bulk: one FTS5 write a second rather than one per commit, a fifth less CPU
        // per recorded widget frame at 10,000 frames a second (BENCHMARKS.md). See SessionsOptions.SearchIndexDelay.
        using var defer = connection.CreateCommand();
        defer.CommandText = $"INSERT INTO {SessionSearch.Backlog} (Row, Text) VALUES ($r, $x)";
        var dRow = defer.Parameters.Add("$r", SqliteType.Integer);
        var dText = defer.Parameters.Add("$x", SqliteType.Text);
        using var flushBacklog = connection.CreateCommand();
        flushBacklog.CommandText =
            $"INSERT INTO {SessionSearch.Table} (rowid, Text) SELECT Row, Text FROM {SessionSearch.Backlog} ORDER BY Id; " +
            $"DELETE FROM {SessionSearch.Backlog};";
        using (var count = connection.CreateCommand())
        {
            // What a crash or a kill left: indexed with the first batch, or once the delay has passed.
            count.CommandText = $"SELECT count(*) FROM {SessionSearch.Backlog}";
            _backlogRows = Convert.ToInt64(count.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            _backlogSince = _time.GetTimestamp() - (long)(_time.TimestampFrequency * _options.SearchIndexDelay.TotalSeconds);
        }
        using var touch = connection.CreateCommand();
        touch.CommandText =
            "UPDATE Sessions SET EventCount = max(EventCount, $n), LastActivityAt = max(LastActivityAt, $t) WHERE Key = $k";
        var tCount = touch.Parameters.Add("$n", SqliteType.Integer);
        var tTime = touch.Parameters.Add("$t", SqliteType.Integer);
        var tKey = touch.Parameters.Add("$k", SqliteType.Integer);

        // Under a load that never rests the writer commits during every checkpoint, so the WAL is never all copied and
        // never starts over: it would grow as long as the load lasts. Past WalRestartBytes, between two batches, this
        // copies what the checkpointer has not yet copied (the writer waits meanwhile; appends do not) and makes the
        // next commit start the WAL over. Readers still on an older snapshot are waited for 100 ms; if they hold on (an
        // export reading a long log), the writer tries again a second later rather than after every batch.
        var wal = new FileInfo(_database.FilePath + "-wal");
        var nextRestart = 0L;
        using var restart = connection.CreateCommand();
        restart.CommandText = "PRAGMA wal_checkpoint(RESTART);";
        var reader = _queue.Reader;
        var touchSessions = false;
        while (await WaitForWorkAsync(reader) is var work and not Work.Done)
        {
            if (work == Work.SearchBacklog)
            {
                FlushBacklogAlone();
                continue;
            }
            _batch.Clear();
            Drain(reader);
            if (_batch.Count < _options.WriterMaxBatch && _options.WriterLinger > TimeSpan.Zero && !_abort.IsCancellationRequested)
            {
                // Events trickling in one by one would each cost a commit; lingering briefly lets them share one.
                await Task.Delay(_options.WriterLinger, _time, CancellationToken.None);
                Drain(reader);
            }
            SignalRoom(); // producers refill the queue while this batch is written
            // Session rows (event count, last activity) are touched once a second under load, and at once when the
            // queue runs dry: under a steady stream that halves the writes, and a quiet log is always up to date.
            touchSessions = reader.Count == 0 || _time.GetElapsedTime(_lastTouch) >= TouchInterval;
            var attempt = 0;
            while (true)
            {
                try
                {
                    WriteBatch();
                    break;
                }
                catch (Exception ex) when (ex is not OperationCanceledException && !_abort.IsCancellationRequested)
                {
                    // SQLite's failures (a lock, a full disk) pass; anything else is a bug, and is reported the same way
                    // (log, health, status page) rather than ending the writer's loop, after which nothing would be written.
                    attempt++;
                    Health.RecordFailure(ex.Message);
                    Log.BatchFailed(_logger, _batch.Count, attempt, ex.Message, QueueDepth);
                    DropEventsOfDeletedSessions();
                    var delay = TimeSpan.FromMilliseconds(Math.Min(5_000, 50 * Math.Pow(2, Math.Min(attempt, 10))));
                    try
                    {
                        await Task.Delay(delay, _time, _abort.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }
            foreach (var (state, last) in _batchSessions)
            {
                state.MarkDurable(last.Seq);
            }
            if (touchSessions)
            {
                _untouched.Clear();
                _lastTouch = _time.GetTimestamp();
            }
            if (Health.RecordSuccess(_batch.Count) is { } outage)
            {
                Log.Recovered(_logger, Math.Round(outage.TotalSeconds, 1), attempt, QueueDepth);
            }
            RunHousekeeping();
            RestartWalIfLong();
        }
        if (!_abort.IsCancellationRequested)
        {
            FlushBacklogAlone(); // stopping: what waits is indexed now, not at the next start
        }

        void FlushBacklogAlone()
        {
            if (_backlogRows == 0)
            {
                return;
            }
            try
            {
                using var transaction = connection.BeginTransaction();
                flushBacklog.Transaction = transaction;
                flushBacklog.ExecuteNonQuery();
                transaction.Commit();
                BacklogFlushed();
            }
            catch (SqliteException ex)
            {
                // The text stays in the backlog and goes with the next batch; searches miss it meanwhile.
                Health.RecordFailure(ex.Message);
                Log.BacklogFailed(_logger, _backlogRows, ex.Message);
                _backlogSince = _time.GetTimestamp();
            }
        }

        void RestartWalIfLong()
        {
            wal.Refresh();
            if (!wal.Exists || wal.Length <= _options.WalRestartBytes || _time.GetTimestamp() < nextRestart)
            {
                return;
            }
            try
            {
                using var result = restart.ExecuteReader();
                // One row: busy (1 when readers kept it from finishing), frames in the log, frames copied.
                if (result.Read() && result.GetInt32(0) == 0)
                {
                    Interlocked.Increment(ref _walRestarts);
                }
                else
                {
                    nextRestart = _time.GetTimestamp() + (long)(_time.TimestampFrequency * CheckpointInterval.TotalSeconds);
                }
            }
            catch (SqliteException ex)
            {
                Log.CheckpointFailed(_logger, ex.Message);
            }
        }

        void WriteBatch()
        {
            _batchSessions.Clear();
            using var transaction = connection.BeginTransaction();
            insert.Transaction = transaction;
            index.Transaction = transaction;
            touch.Transaction = transaction;
            defer.Transaction = transaction;
            flushBacklog.Transaction = transaction;
            var deferring = _options.SearchIndexDelay > TimeSpan.Zero && _batch.Count >= BusyBatch;
            var flushing = _backlogRows > 0 && (!deferring || BacklogDue());
            if (flushing)
            {
                flushBacklog.ExecuteNonQuery();
            }
            var deferred = 0;
            foreach (var (state, e) in _batch)
            {
                if (state.Deleted)
                {
                    continue;
                }
                var time = e.Time.ToUnixTimeMilliseconds();
                pKey.Value = state.Key;
                pSeq.Value = e.Seq;
                pTime.Value = time;
                pDirection.Value = e.Direction;
                pType.Value = e.Type;
                pActor.Value = e.Actor;
                pPayload.Value = e.Payload;
                pSize.Value = e.Size;
                insert.ExecuteNonQuery();
                if (SessionSearch.CanIndex(e.Seq) && SessionSearch.TextOf(e.Type, e.Direction, e.Payload) is { } text)
                {
                    if (deferring)
                    {
                        dRow.Value = SessionSearch.RowId(state.Key, e.Seq);
                        dText.Value = text;
                        defer.ExecuteNonQuery();
                        deferred++;
                    }
                    else
                    {
                        pRow.Value = SessionSearch.RowId(state.Key, e.Seq);
                        pText.Value = text;
                        index.ExecuteNonQuery();
                    }
                }
                _batchSessions[state] = (e.Seq, time);
                _untouched[state] = (e.Seq, time);
            }
            if (touchSessions)
            {
                foreach (var (state, last) in _untouched)
                {
                    if (state.Deleted)
                    {
                        continue;
                    }
                    tKey.Value = state.Key;
                    tCount.Value = last.Seq;
                    tTime.Value = last.Time;
                    touch.ExecuteNonQuery();
                }
            }
            transaction.Commit();
            if (flushing)
            {
                BacklogFlushed();
            }
            if (deferred > 0)
            {
                if (_backlogRows == 0)
                {
                    _backlogSince = _time.GetTimestamp();
                }
                Interlocked.Add(ref _backlogRows, deferred);
            }
        }

        void BacklogFlushed()
        {
            Interlocked.Exchange(ref _backlogRows, 0);
            Interlocked.Increment(ref _backlogFlushes);
        }

        void DropEventsOfDeletedSessions()
        {
            // A session deleted while its events were queued makes the batch fail its foreign key; those events
            // went with their session. Anything else stays in the batch and is retried.
            var before = _batch.Count;
            var gone = _batch.Select(i => i.State).Distinct()
                .Where(s => s.Deleted || !PortalDatabase.SessionExists(connection, s.Key))
                .ToHashSet();
            _batch.RemoveAll(i => gone.Contains(i.State));
            if (_batch.Count != before)
            {
                Log.DroppedForDeletedSessions(_logger, before - _batch.Count);
            }
        }
    }

    private void Drain(ChannelReader<WriteItem> reader)
    {
        while (_batch.Count < _options.WriterMaxBatch && reader.TryRead(out var item))
        {
            _batch.Add(item);
        }
    }

    private enum Work
    {
        Done,
        Events,
        SearchBacklog,
    }

    private bool BacklogDue() => _time.GetElapsedTime(_backlogSince) >= _options.SearchIndexDelay;

    /// <summary>Waits for events, or, while text waits in the search backlog, until it is due to be indexed.</summary>
    private async ValueTask<Work> WaitForWorkAsync(ChannelReader<WriteItem> reader)
    {
        try
        {
            if (_backlogRows == 0 || reader.TryPeek(out _))
            {
                return await reader.WaitToReadAsync(_abort.Token) ? Work.Events : Work.Done;
            }
            var due = _options.SearchIndexDelay - _time.GetElapsedTime(_backlogSince);
            if (due <= TimeSpan.Zero)
            {
                return Work.SearchBacklog;
            }
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(_abort.Token);
            var events = reader.WaitToReadAsync(wait.Token).AsTask();
            var first = await Task.WhenAny(events, Task.Delay(due, _time, wait.Token));
            await wait.CancelAsync(); // the other wait ends here, not when it would have
            if (_abort.IsCancellationRequested)
            {
                return Work.Done;
            }
            if (first == events)
            {
                return await events ? Work.Events : Work.Done;
            }
            return Work.SearchBacklog;
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            return Work.Done;
        }
    }

    private void RunHousekeeping()
    {
        var now = _time.GetTimestamp();
        if (Housekeeping is null || _time.GetElapsedTime(_lastHousekeeping, now) < HousekeepingInterval)
        {
            return;
        }
        _lastHousekeeping = now;
        Housekeeping();
    }

    private readonly record struct WriteItem(SessionState State, SessionEvent Event);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Writing {Count} events failed (attempt {Attempt}): {Error}; retrying, nothing is dropped ({Queued} more queued)")]
        public static partial void BatchFailed(ILogger logger, int count, int attempt, string error, int queued);

        [LoggerMessage(5, LogLevel.Warning, "The event writer's queue is full ({Capacity} events; {State}): appends wait until it drains, nothing is dropped")]
        public static partial void QueueFull(ILogger logger, int capacity, string state);

        [LoggerMessage(6, LogLevel.Information, "The event writer recovered after {Seconds} s and {Attempts} failed attempts; {Queued} events queued")]
        public static partial void Recovered(ILogger logger, double seconds, int attempts, int queued);

        [LoggerMessage(7, LogLevel.Debug, "A WAL checkpoint failed: {Error}")]
        public static partial void CheckpointFailed(ILogger logger, string error);

        [LoggerMessage(8, LogLevel.Warning, "Indexing {Count} texts from the search backlog failed: {Error}; they stay there and are indexed with the next batch")]
        public static partial void BacklogFailed(ILogger logger, long count, string error);

        [LoggerMessage(2, LogLevel.Information, "Session log flushed on shutdown ({Count} events were queued)")]
        public static partial void Flushed(ILogger logger, int count);

        [LoggerMessage(3, LogLevel.Error, "Shutdown timed out with {Count} events still queued")]
        public static partial void FlushTimedOut(ILogger logger, int count);

        [LoggerMessage(4, LogLevel.Information, "{Count} queued events belonged to sessions deleted meanwhile")]
        public static partial void DroppedForDeletedSessions(ILogger logger, int count);
    }
}

/// <summary>What the writer reports about itself: throughput, failures, backpressure.</summary>
internal sealed class WriterHealth
{
    private static readonly TimeSpan BackpressureReportInterval = TimeSpan.FromSeconds(10);
    private long _written;
    private long _batches;
    private long _failures;
    private long _backpressureWaits;
    private long _lastBackpressureTicks;
    private long _lastBackpressureReportTicks;
    private long _lastSuccessTicks = Stopwatch.GetTimestamp();
    private long _failingSinceTicks;

    public long EventsWritten => Interlocked.Read(ref _written);
    public long Batches => Interlocked.Read(ref _batches);
    public long Failures => Interlocked.Read(ref _failures);
    public long BackpressureWaits => Interlocked.Read(ref _backpressureWaits);
    /// <summary>The error of the batch that failed last; null once a batch commits again.</summary>
    public string? LastError { get; private set; }
    /// <summary>True from a failed batch until the next one commits.</summary>
    public bool Failing => Interlocked.Read(ref _failingSinceTicks) != 0;

    /// <summary>How long batches have been failing (zero while they commit).</summary>
    public TimeSpan FailingFor => Interlocked.Read(ref _failingSinceTicks) is var since and not 0 ? Stopwatch.GetElapsedTime(since) : TimeSpan.Zero;

    /// <summary>True when an append had to wait for room in the queue within the last second.</summary>
    public bool Backpressured => Interlocked.Read(ref _lastBackpressureTicks) is var last and not 0 && Stopwatch.GetElapsedTime(last) < TimeSpan.FromSeconds(1);

    /// <summary>Counts a commit; returns how long the writer had been failing when this commit ended an outage.</summary>
    public TimeSpan? RecordSuccess(int count)
    {
        Interlocked.Add(ref _written, count);
        Interlocked.Increment(ref _batches);
        Interlocked.Exchange(ref _lastSuccessTicks, Stopwatch.GetTimestamp());
        var since = Interlocked.Exchange(ref _failingSinceTicks, 0);
        LastError = null;
        return since == 0 ? null : Stopwatch.GetElapsedTime(since);
    }

    public void RecordFailure(string error)
    {
        Interlocked.Increment(ref _failures);
        LastError = error;
        Interlocked.CompareExchange(ref _failingSinceTicks, Stopwatch.GetTimestamp(), 0);
    }

    /// <summary>Counts an append that waits for room; true when that is worth a log line (at most one every ten seconds).</summary>
    public bool RecordBackpressure()
    {
        Interlocked.Increment(ref _backpressureWaits);
        var now = Stopwatch.GetTimestamp();
        Interlocked.Exchange(ref _lastBackpressureTicks, now);
        var reported = Interlocked.Read(ref _lastBackpressureReportTicks);
        return (reported == 0 || Stopwatch.GetElapsedTime(reported, now) >= BackpressureReportInterval)
            && Interlocked.CompareExchange(ref _lastBackpressureReportTicks, now, reported) == reported;
    }
}
