using Hangar.AppHost.Publishing;
using YamlDotNet.RepresentationModel;

namespace AppHost.Tests;

/// <summary>
/// <c>publish compose</c> checked by docker-compose itself and <c>publish kubernetes</c> checked document by document:
/// every selector finds its pods, every secret reference its key, every file its place in the kustomization.
/// </summary>
public sealed class PublishTests : IDisposable
{
    private readonly string _output = Directory.CreateTempSubdirectory("hangar-publish-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_output, recursive: true);

    [Fact]
    public async Task Compose_IsValidForDockerCompose_AndWiresTheStack()
    {
        var file = await ComposePublisher.WriteAsync(new PublishOptions { Output = _output, SkipBuild = true }, Ct);

        var (code, output) = await Command.RunAsync("docker-compose", ["--project-directory", _output, "-f", file, "config", "-q"], cancellationToken: Ct);
        Assert.True(code == 0, output);

        var services = (YamlMappingNode)Load(file).Single()["services"];
        Assert.Equal(["postgres", "redis", "streamhub", "apiservice", "deployer"], services.Children.Keys.Select(k => k.ToString()));
        var secrets = File.ReadAllLines(Path.Combine(_output, ".env")).Where(l => !l.StartsWith('#')).Select(l => l[..l.IndexOf('=')]).ToHashSet();
        foreach (var (name, node) in services.Children)
        {
            var service = (YamlMappingNode)node;
            var mountsSocket = service.Children.TryGetValue("volumes", out var volumes)
                && ((YamlSequenceNode)volumes).Any(v => v.ToString().StartsWith("/var/run/docker.sock:", StringComparison.Ordinal));
            Assert.Equal(name.ToString() == "deployer", mountsSocket);
            Assert.True(service.Children.ContainsKey("healthcheck"), $"{name} has no health check");
            var environment = service.Children.TryGetValue("environment", out var env) ? ((YamlMappingNode)env).Children.Values : [];
            foreach (var value in environment)
            {
                if (value.ToString() is ['$', '{', .. var reference] && !reference.Contains(":-", StringComparison.Ordinal))
                {
                    var secret = reference.Split(':', '}')[0];
                    Assert.True(secrets.Contains(secret), $"{name} refers to {secret}, which .env lacks");
                }
            }
        }

        var apiservice = (YamlMappingNode)services["apiservice"];
        Assert.Equal(["postgres", "redis", "streamhub"], ((YamlMappingNode)apiservice["depends_on"]).Children.Keys.Select(k => k.ToString()));
        Assert.Equal("${HANGAR_BIND_ADDRESS:-127.0.0.1}:${HANGAR_APISERVICE_PORT:-5080}:8080", ((YamlSequenceNode)apiservice["ports"]).Single().ToString());
        Assert.Equal(
            "${HANGAR_NETWORK:-hangar}",
            ((YamlMappingNode)((YamlMappingNode)services["deployer"])["environment"])["Deployer__Docker__NetworkMode"].ToString());
        Assert.True(File.Exists(Path.Combine(_output, "images", "apiservice", "Dockerfile")));
    }

    [Fact]
    public async Task Compose_WithExternalServers_LeavesThemOut()
    {
        var file = await ComposePublisher.WriteAsync(
            new PublishOptions { Output = _output, SkipBuild = true, PostgresConnectionString = "Host=db.example;Database=hangar", RedisConnectionString = "cache.example:6379" },
            Ct);

        var (code, output) = await Command.RunAsync("docker-compose", ["--project-directory", _output, "-f", file, "config", "-q"], cancellationToken: Ct);
        Assert.True(code == 0, output);
        var services = (YamlMappingNode)Load(file).Single()["services"];
        Assert.Equal(["streamhub", "apiservice", "deployer"], services.Children.Keys.Select(k => k.ToString()));
        Assert.Contains("POSTGRES_CONNECTION_STRING=Host=db.example;Database=hangar", File.ReadAllLines(Path.Combine(_output, ".env")));
    }

    [Fact]
    public async Task Kubernetes_EveryManifestHoldsTogether()
    {
        await KubernetesPublisher.WriteAsync(new PublishOptions { Output = _output, SkipBuild = true, ImageTag = "1.2" }, Ct);

        var kustomization = (YamlMappingNode)Load(Path.Combine(_output, "kustomization.yaml")).Single();
        var files = ((YamlSequenceNode)kustomization["resources"]).Select(f => f.ToString()).ToList();
        Assert.Equal(
            [.. Directory.GetFiles(_output, "*.yaml").Select(f => Path.GetFileName(f)).Where(f => f != "kustomization.yaml").Order()],
            files.Order().ToList());
        var documents = files.SelectMany(f => Load(Path.Combine(_output, f))).Cast<YamlMappingNode>().ToList();
        foreach (var document in documents)
        {
            Assert.NotEmpty(document["apiVersion"].ToString());
            Assert.Matches("^[a-z0-9-]+$", document["metadata"]["name"].ToString());
        }

        var secret = Assert.Single(documents, d => d["kind"].ToString() == "Secret");
        var secretKeys = ((YamlMappingNode)secret["stringData"]).Children.Keys.Select(k => k.ToString()).ToHashSet();
        var workloads = documents.Where(d => d["kind"].ToString() is "Deployment" or "StatefulSet").ToList();
        Assert.Equal(
            ["apiservice", "deployer", "postgres", "redis", "streamhub"],
            workloads.Select(w => w["metadata"]["name"].ToString()).Order());
        foreach (var workload in workloads)
        {
            var name = workload["metadata"]["name"].ToString();
            var selector = (YamlMappingNode)workload["spec"]["selector"]["matchLabels"];
            var podLabels = (YamlMappingNode)workload["spec"]["template"]["metadata"]["labels"];
            Assert.All(selector.Children, label => Assert.Equal(label.Value.ToString(), podLabels[label.Key].ToString()));
            var container = (YamlMappingNode)((YamlSequenceNode)workload["spec"]["template"]["spec"]["containers"]).Single();
            Assert.Contains("readinessProbe", container.Children.Keys.Select(k => k.ToString()));
            foreach (var env in container.Children.TryGetValue("env", out var list) ? (YamlSequenceNode)list : [])
            {
                if (((YamlMappingNode)env).Children.TryGetValue("valueFrom", out var from))
                {
                    Assert.Contains(from["secretKeyRef"]["key"].ToString(), secretKeys);
                }
                else
                {
                    Assert.IsType<YamlScalarNode>(env["value"]);
                }
            }

            if (workload["kind"].ToString() == "Deployment")
            {
                Assert.Equal($"hangar/{name}:1.2", container["image"].ToString());
                Assert.Equal("/health", container["readinessProbe"]["httpGet"]["path"].ToString());
                Assert.Equal("/alive", container["livenessProbe"]["httpGet"]["path"].ToString());
                Assert.Equal("http", container["livenessProbe"]["httpGet"]["port"].ToString());
                Assert.Equal("http", ((YamlSequenceNode)container["ports"]).Single()["name"].ToString());
            }
        }

        // Every Service selects the pods of one workload, on a port those pods name.
        foreach (var service in documents.Where(d => d["kind"].ToString() == "Service"))
        {
            var selector = (YamlMappingNode)service["spec"]["selector"];
            var target = Assert.Single(workloads, w => selector.Children.All(l =>
                ((YamlMappingNode)w["spec"]["template"]["metadata"]["labels"]).Children.TryGetValue(l.Key, out var v) && v.ToString() == l.Value.ToString()));
            var portNames = ((YamlSequenceNode)((YamlSequenceNode)target["spec"]["template"]["spec"]["containers"]).Single()["ports"]).Select(p => p["name"].ToString());
            Assert.All((YamlSequenceNode)service["spec"]["ports"], port => Assert.Contains(port["targetPort"].ToString(), portNames));
        }

        Assert.Contains("kubectl create secret generic hangar-docker-tls", await File.ReadAllTextAsync(Path.Combine(_output, "README.md"), Ct));
    }

    [Fact]
    public void Parse_TakesKebabCaseOptionsAndFlags_AndNamesWhatItDoesNotKnow()
    {
        var options = Publish.Parse(["--output", "out", "--skip-build", "--image-tag", "2.0", "--docker-host", "tcp://10.0.0.5:2376"]);

        Assert.Equal(("out", true, "2.0", "tcp://10.0.0.5:2376"), (options.Output, options.SkipBuild, options.ImageTag, options.DockerHost));
        Assert.Equal("Unknown option --tag.", Assert.Throws<FormatException>(() => Publish.Parse(["--tag", "x"])).Message);
        Assert.Equal("--output needs a value.", Assert.Throws<FormatException>(() => Publish.Parse(["--output"])).Message);
    }

    private static List<YamlNode> Load(string file)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(file);
        stream.Load(reader);
        return [.. stream.Documents.Select(d => d.RootNode)];
    }
}
