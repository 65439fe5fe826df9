using static Hangar.AppHost.Publishing.Yaml;

namespace Hangar.AppHost.Publishing;

/// <summary>
/// <c>publish kubernetes</c>: one file per resource and a <c>kustomization.yaml</c> (<c>kubectl apply -k</c>): the
/// generated Secret, StatefulSets with a Service for PostgreSQL and Redis (left out when external ones are given),
/// and a Deployment per service with readiness on <c>/health</c>, liveness on <c>/alive</c>, and a Service for
/// ApiService and StreamHub. The Deployer drives a Docker engine outside the cluster over TCP with TLS (README.md in
/// the output says how).
/// </summary>
public static class KubernetesPublisher
{
    private const string PartOf = "app.kubernetes.io/part-of";
    private const string NameLabel = "app.kubernetes.io/name";
    private const string SecretName = "hangar";
    private const string DockerTlsSecret = "hangar-docker-tls";

    public static PublishedStack Stack(PublishOptions options)
    {
        var dockerHost = new Uri(options.DockerHost);
        return new(
            options,
            options.PublicStreamHubUrl ?? $"http://streamhub:{PublishedStack.HttpPort}",
            options.AgentApiUrl ?? $"http://apiservice:{PublishedStack.HttpPort}",
            [
                new("DOCKER_HOST", options.DockerHost),
                new("DOCKER_TLS_VERIFY", "1"),
                new("DOCKER_CERT_PATH", "/certs"),
                new("Deployer__Docker__NetworkMode", "bridge"),
                new("Deployer__Docker__PublishHostIp", "0.0.0.0"),
                new("Deployer__AdvertisedHost", options.DockerAdvertisedHost ?? dockerHost.Host),
            ]);
    }

    public static async Task<string> WriteAsync(PublishOptions options, CancellationToken cancellationToken)
    {
        var output = Path.GetFullPath(options.Output!);
        var stack = Stack(options);
        await ServiceImages.PrepareAsync(stack, output, cancellationToken).ConfigureAwait(false);

        var files = new OrderedDictionary<string, object[]>
        {
            ["secret.yaml"] = [Secret(stack)],
        };
        if (stack.HasPostgres)
        {
            files["postgres.yaml"] = Backing(
                "postgres", "postgres:15", 5432, "10Gi", "/var/lib/postgresql/data", args: null,
                ["pg_isready", "-U", "postgres", "-d", "hangar"],
                [Env("POSTGRES_USER", "postgres"), Env("POSTGRES_DB", "hangar"), SecretEnv("POSTGRES_PASSWORD", PublishedStack.PostgresPassword),
                 Env("PGDATA", "/var/lib/postgresql/data/pgdata")]);
        }

        if (stack.HasRedis)
        {
            files["redis.yaml"] = Backing("redis", "redis:7", 6379, "1Gi", "/data", ["--appendonly", "yes"], ["redis-cli", "ping"], []);
        }

        foreach (var service in stack.Services)
        {
            files[$"{service.Name}.yaml"] = service.PublicPort is null
                ? [Deployment(stack, service)]
                : [Deployment(stack, service), ServiceFor(service.Name, "http", PublishedStack.HttpPort)];
        }

        Directory.CreateDirectory(output);
        foreach (var (name, documents) in files)
        {
            await File.WriteAllTextAsync(Path.Combine(output, name), WriteAll(documents), cancellationToken).ConfigureAwait(false);
        }

        await File.WriteAllTextAsync(Path.Combine(output, "kustomization.yaml"), Write(Map(
            ("apiVersion", "kustomize.config.k8s.io/v1beta1"),
            ("kind", "Kustomization"),
            ("labels", new[] { Map(("pairs", Map((PartOf, "hangar"))), ("includeSelectors", false)) }),
            ("resources", files.Keys.ToArray()))), cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(Path.Combine(output, "README.md"), Readme(stack), cancellationToken).ConfigureAwait(false);
        return output;
    }

    private static OrderedDictionary<string, object> Secret(PublishedStack stack) => Map(
        ("apiVersion", "v1"),
        ("kind", "Secret"),
        ("metadata", Metadata(SecretName)),
        ("type", "Opaque"),
        ("stringData", new OrderedDictionary<string, object>(stack.Secrets.Select(s => KeyValuePair.Create(s.Key, (object)s.Value)))));

    /// <summary>PostgreSQL or Redis: a StatefulSet with a volume per replica, ready when its own client answers, and its Service.</summary>
    private static object[] Backing(
        string name, string image, int port, string storage, string dataPath, string[]? args, string[] ready, object[] environment) =>
    [
        ServiceFor(name, name, port),
        Map(
            ("apiVersion", "apps/v1"),
            ("kind", "StatefulSet"),
            ("metadata", Metadata(name)),
            ("spec", Map(
                ("serviceName", name),
                ("replicas", 1),
                ("selector", Map(("matchLabels", Map((NameLabel, name))))),
                ("template", Map(
                    ("metadata", Map(("labels", Labels(name)))),
                    ("spec", Map(("containers", new[]
                    {
                        Map(
                            ("name", name),
                            ("image", image),
                            ("args", args),
                            ("env", environment.Length == 0 ? null : environment),
                            ("ports", new[] { Map(("name", name), ("containerPort", port)) }),
                            ("readinessProbe", Map(("exec", Map(("command", ready))), ("periodSeconds", 5))),
                            ("volumeMounts", new[] { Map(("name", "data"), ("mountPath", dataPath)) })),
                    }))))),
                ("volumeClaimTemplates", new[]
                {
                    Map(
                        ("metadata", Map(("name", "data"))),
                        ("spec", Map(("accessModes", new[] { "ReadWriteOnce" }), ("resources", Map(("requests", Map(("storage", storage)))))))),
                })))),
    ];

    private static OrderedDictionary<string, object> Deployment(PublishedStack stack, PublishedService service)
    {
        var container = Map(
            ("name", service.Name),
            ("image", stack.ImageOf(service)),
            ("ports", new[] { Map(("name", "http"), ("containerPort", PublishedStack.HttpPort)) }),
            ("env", service.Settings.Select(s => s.Secret is { } secret ? SecretEnv(s.Name, secret) : Env(s.Name, s.Value!)).ToArray()),
            ("startupProbe", Probe("/alive", periodSeconds: 2, failureThreshold: 60)),
            ("readinessProbe", Probe("/health", periodSeconds: 5, failureThreshold: 3)),
            ("livenessProbe", Probe("/alive", periodSeconds: 10, failureThreshold: 3)),
            ("volumeMounts", service.DrivesDocker ? new[] { Map(("name", "docker-tls"), ("mountPath", "/certs"), ("readOnly", true)) } : null));
        return Map(
            ("apiVersion", "apps/v1"),
            ("kind", "Deployment"),
            ("metadata", Metadata(service.Name)),
            ("spec", Map(
                ("replicas", service.Replicas),
                ("selector", Map(("matchLabels", Map((NameLabel, service.Name))))),
                ("template", Map(
                    ("metadata", Map(("labels", Labels(service.Name)))),
                    ("spec", Map(
                        ("terminationGracePeriodSeconds", 30),
                        ("containers", new[] { container }),
                        ("volumes", service.DrivesDocker
                            ? new[] { Map(("name", "docker-tls"), ("secret", Map(("secretName", DockerTlsSecret), ("optional", true)))) }
                            : null))))))));
    }

    private static OrderedDictionary<string, object> ServiceFor(string name, string portName, int port) => Map(
        ("apiVersion", "v1"),
        ("kind", "Service"),
        ("metadata", Metadata(name)),
        ("spec", Map(
            ("selector", Map((NameLabel, name))),
            ("ports", new[] { Map(("name", portName), ("port", port), ("targetPort", portName)) }))));

    private static OrderedDictionary<string, object> Metadata(string name) => Map(("name", name), ("labels", Labels(name)));

    private static OrderedDictionary<string, object> Labels(string name) => Map((NameLabel, name), (PartOf, "hangar"));

    private static OrderedDictionary<string, object> Probe(string path, int periodSeconds, int failureThreshold) => Map(
        ("httpGet", Map(("path", path), ("port", "http"))), ("periodSeconds", periodSeconds), ("failureThreshold", failureThreshold));

    private static OrderedDictionary<string, object> Env(string name, string value) => Map(("name", name), ("value", value));

    private static OrderedDictionary<string, object> SecretEnv(string name, string key) =>
        Map(("name", name), ("valueFrom", Map(("secretKeyRef", Map(("name", SecretName), ("key", key))))));

    private static string Readme(PublishedStack stack) => $"""
        # Hangar on Kubernetes

        Written by `dotnet run --project AppHost -- publish kubernetes`. Apply with `kubectl apply -k .` in this directory.

        ## Images
        Build and push the service images from `images/<service>/` (each holds the service's Dockerfile and its
        `dotnet publish` output), for example:

            docker build -t {stack.ImageOf(stack.Services[0])} images/{stack.Services[0].Name}

        and the same for {string.Join(", ", stack.Services.Skip(1).Select(s => s.Name))}. The agent image
        (`{stack.Options.AgentImage}`, WrapperImage/Dockerfile) must be on the Docker host below.

        ## The Deployer and its Docker host
        Agents run as containers on a Docker engine, not as pods. The Deployer drives it at `{stack.Options.DockerHost}`
        over TLS: put the client certificate in a secret before applying,

            kubectl create secret generic {DockerTlsSecret} --from-file=ca.pem --from-file=cert.pem --from-file=key.pem

        (as `dockerd --tlsverify` expects them). Agent containers publish their port on every interface of that host,
        and ApiService reaches them at `{stack.Services.Single(s => s.DrivesDocker).Settings.Single(s => s.Name == "Deployer__AdvertisedHost").Value}`;
        the agents reach ApiService at `{stack.Services.Single(s => s.DrivesDocker).Settings.Single(s => s.Name == "services__apiservice__http__0").Value}`
        (`--agent-api-url`), which must resolve from that host. Keep the host on a network only the cluster reaches.

        ## Secrets
        `secret.yaml` holds the generated signing key, API key ({PublishedStack.ApiKey}) and database credentials: keep
        it private, or replace it with your own secret management before applying.
        """;
}
