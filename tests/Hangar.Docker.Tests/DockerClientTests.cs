using System.Formats.Tar;
using System.Text;

namespace Hangar.Docker.Tests;

/// <summary>
/// The client against the real engine (scripts/prerequisites.sh starts dockerd and builds the base image): version
/// negotiation, a container's whole life with labels, an archive, logs split into stdout and stderr, events, and the
/// errors a caller must be able to read.
/// </summary>
public sealed class DockerClientTests : IAsyncLifetime
{
    private const string Image = "hangar/agent-base:bookworm";
    private readonly string _label = "hangar.test=" + Guid.NewGuid().ToString("N");
    private DockerClient _docker = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _docker = await DockerClient.ConnectAsync(cancellationToken: Ct);

    public async ValueTask DisposeAsync()
    {
        foreach (var container in await _docker.ListContainersAsync([_label]))
        {
            await _docker.RemoveContainerAsync(container.Id);
        }

        _docker.Dispose();
    }

    [Fact]
    public void Connect_NegotiatesTheEnginesVersion_WithinWhatTheClientSpeaks()
    {
        Assert.NotEmpty(_docker.Engine.Version);
        Assert.InRange(_docker.ApiVersion, DockerClient.MinimumApiVersion, DockerClient.MaximumApiVersion);
        Assert.True(_docker.ApiVersion <= Version.Parse(_docker.Engine.ApiVersion));
    }

    [Fact]
    public async Task Container_CreatedWithAnArchive_RunsAndIsReadBack()
    {
        var spec = new ContainerSpec(Image)
        {
            Command = ["/bin/bash", "-c", "cat /app/hello.txt; echo to-stderr >&2; printf 'no newline'; exit 7"],
            Environment = new Dictionary<string, string> { ["GREETING"] = "hi" },
            WorkingDirectory = "/app",
            Labels = new Dictionary<string, string> { [_label.Split('=')[0]] = _label.Split('=')[1] },
            NetworkMode = "host",
            MemoryBytes = 64L * 1024 * 1024,
            Cpus = 0.5,
        };
        var id = await _docker.CreateContainerAsync("hangar-test-" + Guid.NewGuid().ToString("N")[..12], spec, Ct);
        await _docker.PutArchiveAsync(id, "/app", new MemoryStream(Tar(("hello.txt", "hello from the archive\n"))), Ct);
        await _docker.StartContainerAsync(id, Ct);

        var details = await WaitUntilExitedAsync(id);
        Assert.Equal(7, details.State.ExitCode);
        Assert.Equal(_label.Split('=')[1], details.Labels[_label.Split('=')[0]]);
        var lines = await LogsOfAsync(id);
        Assert.Contains(new ContainerLogLine(false, "hello from the archive"), lines);
        Assert.Contains(new ContainerLogLine(true, "to-stderr"), lines);
        Assert.Contains(new ContainerLogLine(false, "no newline"), lines);
        Assert.Single(await _docker.ListContainersAsync([_label], Ct));

        await _docker.RemoveContainerAsync(id, cancellationToken: Ct);
        Assert.Null(await _docker.InspectContainerAsync(id, Ct));
        await _docker.RemoveContainerAsync(id, cancellationToken: Ct);
    }

    [Fact]
    public async Task NamedVolume_OutlivesItsContainer_UntilRemoved()
    {
        var volume = "hangar-test-" + Guid.NewGuid().ToString("N")[..12];
        Assert.False(await _docker.VolumeExistsAsync(volume, Ct));
        try
        {
            var written = await RunToEndAsync(volume, "echo kept > /data/file");
            Assert.Equal(0, written.State.ExitCode);
            Assert.True(await _docker.VolumeExistsAsync(volume, Ct));
            await _docker.RemoveContainerAsync(written.Id, cancellationToken: Ct);

            var read = await RunToEndAsync(volume, "cat /data/file");
            Assert.Contains(new ContainerLogLine(false, "kept"), await LogsOfAsync(read.Id));
            await Assert.ThrowsAsync<DockerException>(() => _docker.RemoveVolumeAsync(volume, Ct));
            await _docker.RemoveContainerAsync(read.Id, cancellationToken: Ct);
        }
        finally
        {
            await _docker.RemoveVolumeAsync(volume, Ct);
        }

        Assert.False(await _docker.VolumeExistsAsync(volume, Ct));
        await _docker.RemoveVolumeAsync(volume, Ct);
    }

    private async Task<ContainerDetails> RunToEndAsync(string volume, string script)
    {
        var spec = new ContainerSpec(Image)
        {
            Command = ["/bin/bash", "-c", script],
            Labels = new Dictionary<string, string> { [_label.Split('=')[0]] = _label.Split('=')[1] },
            NetworkMode = "none",
            Volumes = new Dictionary<string, string> { [volume] = "/data" },
        };
        var id = await _docker.CreateContainerAsync("hangar-test-" + Guid.NewGuid().ToString("N")[..12], spec, Ct);
        await _docker.StartContainerAsync(id, Ct);
        return await WaitUntilExitedAsync(id);
    }

    private async Task<List<ContainerLogLine>> LogsOfAsync(string id)
    {
        var lines = new List<ContainerLogLine>();
        await foreach (var line in _docker.LogsAsync(id, cancellationToken: Ct))
        {
            lines.Add(line);
        }

        return lines;
    }

    [Fact]
    public async Task BridgeContainer_PublishesItsPort_OnAFreeHostPort_SeenInListAndInspect()
    {
        var spec = new ContainerSpec(Image)
        {
            Command = ["/bin/sleep", "30"],
            Labels = new Dictionary<string, string> { [_label.Split('=')[0]] = _label.Split('=')[1] },
            PublishedPorts = [3000],
        };
        var id = await _docker.CreateContainerAsync("hangar-test-" + Guid.NewGuid().ToString("N")[..12], spec, Ct);
        await _docker.StartContainerAsync(id, Ct);

        var inspected = (await _docker.InspectContainerAsync(id, Ct))!.HostPorts;
        var listed = Assert.Single(await _docker.ListContainersAsync([_label], Ct)).HostPorts;
        Assert.True(inspected[3000] > 0);
        Assert.Equal(inspected[3000], listed[3000]);
    }

    [Fact]
    public async Task Events_StreamAsTheyHappen()
    {
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        watching.CancelAfter(TimeSpan.FromSeconds(30));
        var seen = new List<DockerEvent>();
        var watch = Task.Run(async () =>
        {
            await foreach (var e in _docker.EventsAsync(_label, watching.Token))
            {
                seen.Add(e);
                if (e.Action == "die")
                {
                    return;
                }
            }
        }, Ct);
        await Task.Delay(300, Ct);

        var spec = new ContainerSpec(Image)
        {
            Command = ["/bin/true"],
            Labels = new Dictionary<string, string> { [_label.Split('=')[0]] = _label.Split('=')[1] },
            NetworkMode = "host",
        };
        var id = await _docker.CreateContainerAsync("hangar-test-" + Guid.NewGuid().ToString("N")[..12], spec, Ct);
        await _docker.StartContainerAsync(id, Ct);
        await watch;

        Assert.Equal(["create", "start", "die"], seen.Where(e => e.Id == id).Select(e => e.Action));
        Assert.Equal("0", seen[^1].Attributes["exitCode"]);
    }

    [Fact]
    public async Task Errors_CarryTheEnginesMessage()
    {
        Assert.False(await _docker.ImageExistsAsync("hangar/no-such-image:none", Ct));
        Assert.True(await _docker.ImageExistsAsync(Image, Ct));

        var missing = await Assert.ThrowsAsync<DockerException>(() => _docker.CreateContainerAsync("hangar-test-missing", new ContainerSpec("hangar/no-such-image:none"), Ct));
        Assert.True(missing.IsNotFound);
        Assert.Contains("No such image: hangar/no-such-image:none", missing.Message, StringComparison.Ordinal);

        var noContainer = await Assert.ThrowsAsync<DockerException>(() => _docker.StartContainerAsync("no-such-container", Ct));
        Assert.Equal(404, noContainer.StatusCode);
    }

    [Fact]
    public async Task NoEngine_SaysWhereItLookedAndWhatToDo()
    {
        var missing = new DockerEndpoint(new Uri("unix:///tmp/no-such-docker.sock"));
        var error = await Assert.ThrowsAsync<DockerException>(() => DockerClient.ConnectAsync(missing, Ct));
        Assert.Equal("No Docker engine at unix:///tmp/no-such-docker.sock: the socket does not exist. Start dockerd, or set DOCKER_HOST.", error.Message);

        Assert.Throws<DockerException>(() => DockerEndpoint.FromEnvironment("ssh://somewhere"));
        Assert.Equal(new Uri("tcp://10.0.0.5:2376"), DockerEndpoint.FromEnvironment("tcp://10.0.0.5:2376").Address);
    }

    private async Task<ContainerDetails> WaitUntilExitedAsync(string id)
    {
        for (var i = 0; i < 200; i++)
        {
            var details = (await _docker.InspectContainerAsync(id, Ct))!;
            if (details.State.Status == "exited")
            {
                return details;
            }

            await Task.Delay(50, Ct);
        }

        throw new TimeoutException("The container did not exit.");
    }

    private static byte[] Tar(params (string Path, string Content)[] files)
    {
        using var output = new MemoryStream();
        using (var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (path, content) in files)
            {
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) });
            }
        }

        return output.ToArray();
    }
}
