using System.Buffers;
using System.Diagnostics;
using System.Net.Http.Headers;
using Hangar.AgentProtocol;
using Hangar.ApiService.Events;
using Hangar.Contracts;
using Microsoft.Extensions.Options;

namespace Hangar.ApiService.Runs;

/// <summary>
/// One step: <c>POST {url}/_agent/chat</c> exactly as Blink does (shared/protocol/blink, recordings 03–05), the reply
/// read chunk by chunk, each chunk appended to the chat's stream as it arrives and folded into the assistant message.
/// Every way the call can go wrong ends in a <see cref="StepOutcome"/> with a readable error, never an exception.
/// </summary>
internal sealed class AgentInvoker(
    IHttpClientFactory httpClients, ChatEventPublisher events, TokenSigner signer, IOptions<RunOptions> options, TimeProvider time)
{
    public const string HttpClientName = "agents";

    public async Task<StepOutcome> InvokeAsync(RunLease lease, StepContext step, Func<StopReason> stopReason, CancellationToken stepToken)
    {
        var settings = options.Value;
        var messageId = Guid.CreateVersion7().ToString();
        var builder = new UiMessageBuilder();
        var chunks = events.ForMessage(lease.ChatId, messageId);
        DateTimeOffset? firstChunkAt = null;
        using var activity = RunTracing.StartStep("agent.chat", ActivityKind.Client, lease, step, lease.Trace);
        activity?.SetTag("hangar.step_number", step.Number).SetTag("url.full", step.AgentUrl + "/_agent/chat");
        Activity? appendSpan = null;

        StepOutcome Outcome(string status, string? error)
        {
            activity?.SetStatus(status == "completed" ? ActivityStatusCode.Ok : ActivityStatusCode.Error, error)
                .SetTag("hangar.step_status", status).SetTag("hangar.chunks", builder.ChunkCount);
            var parts = status == "completed" ? builder.BuildParts() : builder.BuildPartsOfUnfinishedStep(error ?? status);
            var continueToolLoop = status == "completed" && UiMessages.ShouldContinueToolLoop(parts);
            return new(status, error, messageId, parts, builder.BuildMetadata(), builder.FinishReason, builder.ChunkCount, firstChunkAt, continueToolLoop);
        }

        if (step.AgentUrl is null)
        {
            return Outcome("failed", "The agent has no active deployment to call.");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stepToken);
        timeout.CancelAfter(settings.AgentFirstByteTimeout);
        try
        {
            using var request = BuildRequest(lease, step, activity);
            using var response = await httpClients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (await RejectAsync(response, timeout.Token) is { } rejection)
            {
                return Outcome("failed", rejection);
            }

            await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
            var done = false;
            await foreach (var data in SseFrameReader.ReadEventsAsync(body, timeout.Token))
            {
                if (firstChunkAt is null)
                {
                    firstChunkAt = time.GetUtcNow();
                    activity?.AddEvent(new ActivityEvent("first_chunk"));
                    appendSpan = RunTracing.StartStep("stream.append", ActivityKind.Client, lease, step, activity?.Context ?? default)?.SetTag("db.system.name", "redis");
                }

                timeout.CancelAfter(settings.AgentIdleTimeout);
                if (data.AsSpan().SequenceEqual("[DONE]"u8))
                {
                    done = true;
                    break;
                }

                builder.Apply(data);
                await chunks.AppendAsync(data);
            }

            if (!done && !builder.Finished)
            {
                return Outcome("failed", "The agent's stream ended before the reply was finished (no 'finish' chunk and no [DONE]).");
            }

            return builder.ErrorText is { } agentError
                ? Outcome("failed", $"The agent reported an error: {agentError}")
                : Outcome("completed", null);
        }
        catch (OperationCanceledException) when (stepToken.IsCancellationRequested)
        {
            return stopReason() switch
            {
                StopReason.Stop => Outcome("stopped", "Stopped by request."),
                StopReason.Shutdown => Outcome("interrupted", "The replica running this step shut down; the step runs again on another."),
                StopReason.LeaseLost => Outcome("interrupted", "This replica lost the run's lease."),
                _ => Outcome("interrupted", "Interrupted by a new message."),
            };
        }
        catch (OperationCanceledException)
        {
            return Outcome("failed", firstChunkAt is null
                ? $"The agent sent nothing within {settings.AgentFirstByteTimeout.TotalSeconds:0.###} s (first-byte timeout)."
                : $"The agent sent nothing for {settings.AgentIdleTimeout.TotalSeconds:0.###} s in the middle of its reply (idle timeout).");
        }
        catch (HttpRequestException ex)
        {
            return Outcome("failed", $"Could not reach the agent at {step.AgentUrl}: {ex.Message}");
        }
        catch (AgentProtocolException ex)
        {
            return Outcome("failed", $"The agent's reply broke the protocol: {ex.Message}");
        }
        catch (IOException ex)
        {
            return Outcome("failed", $"The connection to the agent broke during its reply: {ex.Message}");
        }
        finally
        {
            // A chunk Redis could not take is reported lost: clients get a reset and reload the chat, whose stored
            // message is the record.
            await chunks.FlushAsync();
            appendSpan?.SetTag("hangar.chunks", builder.ChunkCount).Dispose();
        }
    }

    /// <summary>
    /// The request Blink sends, plus <c>traceparent</c> naming the step's span, so an agent that continues incoming
    /// traces reports its spans as children of the step. The agents' HttpClient adds no trace headers of its own.
    /// </summary>
    private HttpRequestMessage BuildRequest(RunLease lease, StepContext step, Activity? activity)
    {
        var body = new ArrayBufferWriter<byte>(4096);
        ChatRequestBody.Write(body, lease.ChatId.ToString(), step.History);
        var token = signer.Sign(InvocationToken.Purpose, new InvocationToken
        {
            OrganizationId = lease.OrganizationId,
            AgentId = lease.AgentId,
            DeploymentId = step.DeploymentId,
            Target = step.Target,
            ChatId = lease.ChatId,
            RunId = lease.RunId,
            StepId = step.StepId,
            ExpiresAtUnixSeconds = (time.GetUtcNow() + options.Value.InvocationTokenLifetime).ToUnixTimeSeconds(),
        }, ContractsJsonContext.Default.InvocationToken);

        var request = new HttpRequestMessage(HttpMethod.Post, step.AgentUrl + "/_agent/chat")
        {
            Content = new ReadOnlyMemoryContent(body.WrittenMemory) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
        };
        request.Headers.Add(BlinkHeaders.InvocationToken, token);
        request.Headers.Add(BlinkHeaders.RunId, lease.RunId.ToString());
        request.Headers.Add(BlinkHeaders.StepId, step.StepId.ToString());
        request.Headers.Add(BlinkHeaders.ChatId, lease.ChatId.ToString());
        if (activity?.Id is { } traceparent)
        {
            request.Headers.Add("traceparent", traceparent);
            if (activity.TraceStateString is { } state)
            {
                request.Headers.Add("tracestate", state);
            }
        }

        return request;
    }

    /// <summary>The reason a reply cannot be read as a UI message stream, or null when it can.</summary>
    private static async Task<string?> RejectAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (!response.IsSuccessStatusCode)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            return $"The agent answered {(int)response.StatusCode} {response.ReasonPhrase}: {(text.Length > 500 ? text[..500] + "…" : text)}";
        }

        if (response.Headers.TryGetValues(BlinkHeaders.StreamResponseFormat, out var formats) && formats.FirstOrDefault() is { } format && format != BlinkHeaders.UiMessageFormat)
        {
            return $"The agent answered with a '{format}' stream ({BlinkHeaders.StreamResponseFormat}); Hangar does not support provider-native streams yet, only '{BlinkHeaders.UiMessageFormat}'.";
        }

        var mediaType = response.Content.Headers.ContentType?.MediaType;
        return mediaType == "text/event-stream" ? null : $"The agent answered with content-type '{mediaType ?? "none"}', not a text/event-stream UI message stream.";
    }
}
