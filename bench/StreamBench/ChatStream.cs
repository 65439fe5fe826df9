using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Hangar.StreamBench;

/// <summary>
/// Follows one chat's StreamHub stream the way a UI does: one SSE connection across turns, resumed with
/// <c>Last-Event-ID</c> whenever it drops (on another replica when told to), no deduplication of its own. Every
/// <c>message.chunk.added</c> goes to the expected <see cref="Turn"/>, which ends with the run's final
/// <c>run.updated</c>.
/// </summary>
internal sealed class ChatStream : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _closed = new();
    private readonly byte[] _lastId = new byte[48];
    private readonly Task _loop;
    private string _url;
    private int _lastIdLength;
    private Turn? _turn;
    private int _dropAfter;
    private string? _resumeUrl;
    private Func<Task<string>>? _newestEventId;
    private (long Ms, long Seq, long Index)? _catchUpTarget;

    public ChatStream(HttpClient http, string url)
    {
        _http = http;
        _url = url;
        _loop = Task.Run(FollowAsync);
    }

    /// <summary>Why the last connection ended, when it failed.</summary>
    public string? LastError { get; private set; }

    /// <summary>Times the client reconnected after a drop.</summary>
    public int Reconnects { get; private set; }

    public long ReconnectedAt { get; private set; }

    /// <summary>When the resumed connection delivered the newest event the stream had at the reconnect.</summary>
    public long CaughtUpAt { get; private set; }

    /// <summary>The turn the next chunks belong to; set before its message is sent.</summary>
    public void Expect(Turn turn) => Volatile.Write(ref _turn, turn);

    /// <summary>
    /// Drops the connection once <paramref name="deltas"/> deltas of the current turn arrived, and resumes on
    /// <paramref name="resumeUrl"/>; <paramref name="newestEventId"/> says how far the stream had got at that moment.
    /// </summary>
    public void DropAfter(int deltas, string resumeUrl, Func<Task<string>> newestEventId)
    {
        _resumeUrl = resumeUrl;
        _newestEventId = newestEventId;
        _dropAfter = deltas;
    }

    public async ValueTask DisposeAsync()
    {
        await _closed.CancelAsync();
        await _loop;
        _closed.Dispose();
    }

    private async Task FollowAsync()
    {
        while (!_closed.IsCancellationRequested)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, _url);
                if (_lastIdLength > 0)
                {
                    request.Headers.TryAddWithoutValidation("Last-Event-ID", Encoding.ASCII.GetString(_lastId, 0, _lastIdLength));
                }

                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _closed.Token);
                response.EnsureSuccessStatusCode();
                await SseReader.ReadAsync(await response.Content.ReadAsStreamAsync(_closed.Token), OnEvent, _closed.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException or IOException)
            {
                if (_closed.IsCancellationRequested)
                {
                    return;
                }

                LastError = ex.Message;
            }

            Reconnects++;
            if (_resumeUrl is { } resumeUrl && _newestEventId is { } newest)
            {
                (_url, _resumeUrl, _newestEventId) = (resumeUrl, null, null);
                ReconnectedAt = Stopwatch.GetTimestamp();
                _catchUpTarget = Parse(Encoding.ASCII.GetBytes(await newest()));
            }
            else
            {
                await Task.Delay(50);
            }
        }
    }

    private bool OnEvent(ReadOnlySpan<byte> id, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        var now = Stopwatch.GetTimestamp();
        id.CopyTo(_lastId);
        _lastIdLength = id.Length;
        if (_catchUpTarget is { } target && CaughtUpAt == 0 && Parse(id).CompareTo(target) >= 0)
        {
            CaughtUpAt = now;
        }

        if (Volatile.Read(ref _turn) is not { } turn)
        {
            return false;
        }

        if (type.SequenceEqual("message.chunk.added"u8))
        {
            turn.OnChunk(data, now);
            if (_dropAfter > 0 && turn.Received >= _dropAfter)
            {
                _dropAfter = 0;
                return true;
            }
        }
        else if (type.SequenceEqual("run.updated"u8) && FinalStatus(data) is { } ended)
        {
            turn.End(ended.Status, now, ended.Error);
        }
        else if (type.SequenceEqual("reset"u8))
        {
            turn.Resets++;
        }

        return false;
    }

    /// <summary>An event id in stream order: <c>ms-seq</c> is an entry's last event, <c>ms-seq.i</c> its event i before that.</summary>
    private static (long Ms, long Seq, long Index) Parse(ReadOnlySpan<byte> id)
    {
        var dash = id.IndexOf((byte)'-');
        var dot = id.IndexOf((byte)'.');
        return dot < 0
            ? (long.Parse(id[..dash]), long.Parse(id[(dash + 1)..]), long.MaxValue)
            : (long.Parse(id[..dash]), long.Parse(id[(dash + 1)..dot]), long.Parse(id[(dot + 1)..]));
    }

    /// <summary>A run's status when the run has ended, and its error if it has one.</summary>
    private static (string Status, string? Error)? FinalStatus(ReadOnlySpan<byte> run)
    {
        string? status = null, error = null;
        var reader = new Utf8JsonReader(run);
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1)
            {
                var name = reader.ValueTextEquals("status"u8) ? "status" : reader.ValueTextEquals("error"u8) ? "error" : null;
                reader.Read();
                if (name == "status")
                {
                    status = reader.GetString();
                }
                else if (name == "error" && reader.TokenType == JsonTokenType.String)
                {
                    error = reader.GetString();
                }
                else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }
            }
        }

        return status is "completed" or "failed" or "stopped" or "interrupted" ? (status, error) : null;
    }
}
