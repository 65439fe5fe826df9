namespace Hangar.StreamBench;

internal sealed record IdleResult(int Subscribers, double RssBeforeMiB, double RssWithSubscribersMiB, double KiBPerSubscriber, double RssAfterCloseMiB);

/// <summary>
/// Memory per idle SSE subscriber: <c>subscribers</c> connections held open on one StreamHub, each on a chat of its
/// own (the costly case: one feed per chat too), and that StreamHub's resident memory before and with them.
/// </summary>
internal static class IdleSubscribers
{
    public static async Task<IdleResult> MeasureAsync(HangarClient hangar, Guid agentId, int subscribers, string streamHub, int streamHubPid)
    {
        var urls = new string[subscribers];
        await Parallel.ForAsync(0, subscribers, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, _) =>
            urls[i] = streamHub + new Uri((await hangar.CreateChatAsync(agentId, null)).StreamUrl).PathAndQuery);

        await Task.Delay(TimeSpan.FromSeconds(3));
        var before = ProcessStats.RssMiB(streamHubPid);
        var http = HangarClient.Http();
        var responses = new HttpResponseMessage[subscribers];
        await Parallel.ForAsync(0, subscribers, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, ct) =>
        {
            responses[i] = await http.GetAsync(urls[i], HttpCompletionOption.ResponseHeadersRead, ct);
            responses[i].EnsureSuccessStatusCode();
        });

        await Task.Delay(TimeSpan.FromSeconds(5));
        var with = ProcessStats.RssMiB(streamHubPid);
        foreach (var response in responses)
        {
            response.Dispose();
        }

        http.Dispose();
        await Task.Delay(TimeSpan.FromSeconds(5));
        return new(subscribers, before, with, (with - before) * 1024 / subscribers, ProcessStats.RssMiB(streamHubPid));
    }
}
