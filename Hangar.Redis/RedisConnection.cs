using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hangar.Redis;

/// <summary>
/// One connection to Redis, shared by any number of callers. Commands are encoded into one buffer in call order and
/// flushed together, so a caller that issues many commands without awaiting each gets them pipelined on the wire.
/// Replies are matched to commands in order. When the socket breaks, the commands already sent fail with
/// <see cref="RedisConnectionException"/>, commands not yet sent wait for the reconnect, and the connection comes
/// back on its own with a short backoff.
/// </summary>
public sealed partial class RedisConnection : IAsyncDisposable
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(2);

    private readonly RedisOptions _options;
    private readonly Func<IEnumerable<RedisArg[]>>? _onConnectCommands;
    private readonly Action<RedisReply>? _onPush;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _disposing = new();
    private readonly Lock _gate = new();
    private readonly Queue<TaskCompletionSource<RedisReply>> _unsent = new();
    private readonly Queue<TaskCompletionSource<RedisReply>> _inflight = new();
    private readonly SemaphoreSlim _flushSignal = new(0);
    private ArrayBufferWriter<byte> _outgoing = new(4096);
    private ArrayBufferWriter<byte>? _spare = new(4096);
    private bool _connected;
    private bool _flushScheduled;
    private bool _disposed;
    private Task _run = Task.CompletedTask;

    private RedisConnection(RedisOptions options, RedisConnectionHooks? hooks, ILogger? logger)
    {
        _options = options;
        _onConnectCommands = hooks?.OnConnectCommands;
        _onPush = hooks?.OnPush;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The server's id for this connection (<c>CLIENT ID</c>), renewed on every reconnect.</summary>
    public long ClientId { get; private set; }

    public bool IsConnected => Volatile.Read(ref _connected);

    /// <summary>Raised after every successful reconnect (not the first connect), on a thread-pool thread.</summary>
    public event Action? Reconnected;

    /// <summary>Connects, failing if the first attempt fails; later breaks are repaired in the background.</summary>
    public static async Task<RedisConnection> ConnectAsync(
        RedisOptions options, RedisConnectionHooks? hooks = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        var connection = new RedisConnection(options, hooks, logger);
        var session = await connection.OpenSessionAsync(cancellationToken).ConfigureAwait(false);
        connection._run = connection.RunAsync(session);
        return connection;
    }

    /// <summary>
    /// Sends one command. The arguments are encoded before this method returns, so commands issued one after the
    /// other reach Redis in that order even when none is awaited.
    /// </summary>
    public Task<RedisReply> ExecuteAsync(params ReadOnlySpan<RedisArg> args)
    {
        var reply = new TaskCompletionSource<RedisReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool signal;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            RespWriter.WriteCommand(_outgoing, args);
            _unsent.Enqueue(reply);
            signal = _connected && !_flushScheduled;
            _flushScheduled |= signal;
        }

        if (signal)
        {
            _flushSignal.Release();
        }

        return reply.Task;
    }

    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
        try
        {
            await _run.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The loop ends by cancellation or by the socket closing under it; either way it is over.
        }

        FailAll(new RedisConnectionException("The Redis connection was disposed."), includeUnsent: true);
        _disposing.Dispose();
        _flushSignal.Dispose();
    }

    private async Task RunAsync(Session session)
    {
        var backoff = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            try
            {
                await session.RunAsync(this).ConfigureAwait(false);
            }
            catch (Exception ex) when (!_disposing.IsCancellationRequested)
            {
                LogConnectionLost(_logger, _options.Host, _options.Port, ex.Message);
            }
            finally
            {
                await session.DisposeAsync().ConfigureAwait(false);
                lock (_gate)
                {
                    _connected = false;
                }

                FailAll(new RedisConnectionException($"The connection to Redis at {_options.Host}:{_options.Port} was lost before the reply arrived."), includeUnsent: false);
            }

            while (true)
            {
                _disposing.Token.ThrowIfCancellationRequested();
                try
                {
                    session = await OpenSessionAsync(_disposing.Token).ConfigureAwait(false);
                    backoff = TimeSpan.FromMilliseconds(50);
                    LogReconnected(_logger, _options.Host, _options.Port);
                    _ = Task.Run(() => Reconnected?.Invoke());
                    break;
                }
                catch (Exception ex) when (!_disposing.IsCancellationRequested)
                {
                    // Commands queued while Redis is away fail once an attempt fails, so no caller waits longer than
                    // one connect timeout plus the backoff.
                    FailAll(new RedisConnectionException($"Redis at {_options.Host}:{_options.Port} is unavailable: {ex.Message}", ex), includeUnsent: true);
                    await Task.Delay(backoff, _disposing.Token).ConfigureAwait(false);
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
                }
            }
        }
    }

    private async Task<Session> OpenSessionAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream stream;
        try
        {
            await socket.ConnectAsync(_options.Host, _options.Port, timeout.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (_options.Ssl)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = _options.Host }, timeout.Token).ConfigureAwait(false);
                stream = ssl;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new RedisConnectionException($"Connecting to Redis at {_options.Host}:{_options.Port} timed out after {_options.ConnectTimeout.TotalSeconds:0.#} s.");
        }
        catch (Exception ex) when (ex is SocketException or IOException or System.Security.Authentication.AuthenticationException)
        {
            socket.Dispose();
            throw new RedisConnectionException($"Cannot connect to Redis at {_options.Host}:{_options.Port}: {ex.Message}", ex);
        }

        var session = new Session(stream, _disposing.Token);
        try
        {
            ClientId = await session.HandshakeAsync(BuildHandshake(), TryPush, timeout.Token).ConfigureAwait(false);
        }
        catch
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        bool signal;
        lock (_gate)
        {
            _connected = true;
            signal = _outgoing.WrittenCount > 0 && !_flushScheduled;
            _flushScheduled |= signal;
        }

        if (signal)
        {
            _flushSignal.Release();
        }

        return session;
    }

    private List<RedisArg[]> BuildHandshake()
    {
        var commands = new List<RedisArg[]>();
        if (_options.Password is not null)
        {
            commands.Add(_options.User is null ? ["AUTH", _options.Password] : ["AUTH", _options.User, _options.Password]);
        }

        if (_options.Database != 0)
        {
            commands.Add(["SELECT", _options.Database]);
        }

        if (_options.ClientName is not null)
        {
            commands.Add(["CLIENT", "SETNAME", _options.ClientName]);
        }

        // CLIENT ID is last but one fixed command: its reply is the id that CLIENT UNBLOCK needs.
        commands.Add(["CLIENT", "ID"]);
        if (_onConnectCommands is not null)
        {
            commands.AddRange(_onConnectCommands());
        }

        return commands;
    }

    /// <summary>Takes everything queued since the last flush, in one buffer, and marks those commands as in flight.</summary>
    private ArrayBufferWriter<byte>? TakeOutgoing()
    {
        lock (_gate)
        {
            _flushScheduled = false;
            if (_outgoing.WrittenCount == 0)
            {
                return null;
            }

            // A batch whose write failed is never returned: then a new buffer takes the spare's place.
            var batch = _outgoing;
            _outgoing = _spare ?? new ArrayBufferWriter<byte>(4096);
            _spare = null;
            while (_unsent.TryDequeue(out var pending))
            {
                _inflight.Enqueue(pending);
            }

            return batch;
        }
    }

    private void ReturnBuffer(ArrayBufferWriter<byte> buffer)
    {
        buffer.ResetWrittenCount();
        lock (_gate)
        {
            _spare = buffer;
        }
    }

    private void Complete(RedisReply reply)
    {
        if (TryPush(reply))
        {
            return;
        }

        TaskCompletionSource<RedisReply>? pending;
        lock (_gate)
        {
            _inflight.TryDequeue(out pending);
        }

        if (pending is null)
        {
            throw new RedisConnectionException("Redis sent a reply that no command was waiting for.");
        }

        if (reply.Kind == RedisReplyKind.Error)
        {
            pending.TrySetException(new RedisServerException(reply.AsString()!));
        }
        else
        {
            pending.TrySetResult(reply);
        }
    }

    /// <summary>Hands a pub/sub message to the push hook; false for every other reply.</summary>
    private bool TryPush(RedisReply reply)
    {
        if (_onPush is null || !IsPush(reply))
        {
            return false;
        }

        _onPush(reply);
        return true;
    }

    private static bool IsPush(RedisReply reply) =>
        reply.Kind == RedisReplyKind.Array && reply.Count >= 3 && reply[0].Kind == RedisReplyKind.BulkString
        && (reply[0].Bytes.SequenceEqual("message"u8) || reply[0].Bytes.SequenceEqual("pmessage"u8));

    private void FailAll(Exception error, bool includeUnsent)
    {
        List<TaskCompletionSource<RedisReply>> failed = [];
        lock (_gate)
        {
            while (_inflight.TryDequeue(out var pending))
            {
                failed.Add(pending);
            }

            if (includeUnsent)
            {
                while (_unsent.TryDequeue(out var pending))
                {
                    failed.Add(pending);
                }

                _outgoing.ResetWrittenCount();
            }
        }

        foreach (var pending in failed)
        {
            pending.TrySetException(error);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the connection to Redis at {Host}:{Port}: {Reason}")]
    private static partial void LogConnectionLost(ILogger logger, string host, int port, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Reconnected to Redis at {Host}:{Port}")]
    private static partial void LogReconnected(ILogger logger, string host, int port);

    /// <summary>One socket's life: the handshake, then a writer loop and a reader loop until either fails.</summary>
    private sealed class Session(Stream stream, CancellationToken disposing) : IAsyncDisposable
    {
        // Zero-byte reads: a connection waiting for a reply (a blocked XREAD may wait for seconds) holds no buffer until
        // bytes arrive. With many reader connections that is memory per idle subscriber saved.
        private readonly PipeReader _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, useZeroByteReads: true));
        private readonly CancellationTokenSource _end = CancellationTokenSource.CreateLinkedTokenSource(disposing);
        private readonly RespScanner _scanner = new();

        /// <summary>
        /// Sends the commands in one write and reads one reply for each. A message published to a channel that one
        /// of them subscribed to again can arrive before the later ones are answered: it goes to <paramref name="tryPush"/>.
        /// </summary>
        public async Task<long> HandshakeAsync(List<RedisArg[]> commands, Func<RedisReply, bool> tryPush, CancellationToken cancellationToken)
        {
            var buffer = new ArrayBufferWriter<byte>();
            foreach (var command in commands)
            {
                RespWriter.WriteCommand(buffer, command);
            }

            await stream.WriteAsync(buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
            long clientId = 0;
            for (var i = 0; i < commands.Count; i++)
            {
                var reply = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
                while (tryPush(reply))
                {
                    reply = await ReadReplyAsync(cancellationToken).ConfigureAwait(false);
                }

                if (reply.Kind == RedisReplyKind.Error)
                {
                    throw new RedisConnectionException($"Redis refused '{commands[i][0]}' while connecting: {reply.AsString()}");
                }

                if (commands[i].Length == 2 && commands[i][0].ToString() == "CLIENT" && commands[i][1].ToString() == "ID")
                {
                    clientId = reply.Integer;
                }
            }

            return clientId;
        }

        public async Task RunAsync(RedisConnection owner)
        {
            var writer = WriteLoopAsync(owner);
            try
            {
                await ReadLoopAsync(owner).ConfigureAwait(false);
            }
            finally
            {
                await _end.CancelAsync().ConfigureAwait(false);
                try
                {
                    await writer.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // The reader's failure is the one reported; the writer stopped because of it.
                }
            }
        }

        private async Task WriteLoopAsync(RedisConnection owner)
        {
            try
            {
                while (true)
                {
                    await owner._flushSignal.WaitAsync(_end.Token).ConfigureAwait(false);
                    var batch = owner.TakeOutgoing();
                    if (batch is null)
                    {
                        continue;
                    }

                    await stream.WriteAsync(batch.WrittenMemory, _end.Token).ConfigureAwait(false);
                    owner.ReturnBuffer(batch);
                }
            }
            catch (Exception)
            {
                // A failed write ends the session; the reader notices the closed stream and reports it.
                await _end.CancelAsync().ConfigureAwait(false);
                stream.Dispose();
                throw;
            }
        }

        private async Task ReadLoopAsync(RedisConnection owner)
        {
            while (true)
            {
                var result = await _reader.ReadAsync(_end.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var reader = new SequenceReader<byte>(buffer);
                while (true)
                {
                    // A reply found incomplete is scanned on from where the last read left it, and parsed once whole.
                    if (_scanner.Pending && !_scanner.TryComplete(buffer.Slice(reader.Position)))
                    {
                        break;
                    }

                    if (!RespParser.TryRead(ref reader, out var reply))
                    {
                        _scanner.TryComplete(buffer.Slice(reader.Position));
                        break;
                    }

                    owner.Complete(reply);
                }

                _reader.AdvanceTo(reader.Position, buffer.End);
                if (result.IsCompleted)
                {
                    throw new RedisConnectionException("Redis closed the connection.");
                }
            }
        }

        private async Task<RedisReply> ReadReplyAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                var reader = new SequenceReader<byte>(result.Buffer);
                if (RespParser.TryRead(ref reader, out var reply))
                {
                    _reader.AdvanceTo(reader.Position);
                    return reply;
                }

                _reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                if (result.IsCompleted)
                {
                    throw new RedisConnectionException("Redis closed the connection during the handshake.");
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _end.CancelAsync().ConfigureAwait(false);
            await _reader.CompleteAsync().ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            _end.Dispose();
        }
    }
}
