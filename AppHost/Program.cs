using Hangar.AppHost;
using Hangar.AppHost.Publishing;

// dotnet run --project AppHost: the whole stack on this machine, with the Aspire dashboard.
// dotnet run --project AppHost -- publish compose|kubernetes [--output DIR] [--skip-build] …: files to run it elsewhere.
if (args is ["publish", .. var publishArgs])
{
    return await Publish.RunAsync(publishArgs);
}

var builder = DistributedApplication.CreateBuilder(args);
var settings = AppHostSettings.From(builder.Configuration);

// Generated on the first run and kept in the AppHost's user secrets; the dashboard shows them under Parameters.
var signingKey = builder.AddParameter("signing-key", GeneratedKey.SigningKey, secret: true, persist: true);
var apiKey = builder.AddParameter("api-key", GeneratedKey.ApiKey, secret: true, persist: true);

var servers = await BackingServers.ChooseAsync(builder, settings);
var postgres = servers.AddPostgres("postgres", databaseName: "hangar");
var redis = servers.AddRedis("redis");

var streamhub = builder.AddProject<Projects.StreamHub>("streamhub")
    .WithHttpEndpoint(port: settings.StreamHubPort)
    .WithReplicas(settings.StreamHubReplicas)
    .WithReference(redis).WaitFor(redis)
    .WithEnvironment("Hangar__SigningKey", signingKey)
    .WithHttpHealthCheck("/health");

var apiservice = builder.AddProject<Projects.ApiService>("apiservice")
    .WithHttpEndpoint(port: settings.ApiPort)
    .WithReplicas(settings.ApiReplicas)
    .WithReference(postgres, "postgres").WaitFor(postgres)
    .WithReference(redis).WaitFor(redis)
    .WithReference(streamhub)
    .WithEnvironment("Hangar__SigningKey", signingKey)
    .WithEnvironment("Hangar__BootstrapApiKey", apiKey)
    .WithHttpHealthCheck("/health");

var deployerRuntime = await settings.DeployerRuntimeAsync();
if (deployerRuntime is not "none")
{
    apiservice.WithEnvironment("Hangar__Deployments__DefaultRuntime", deployerRuntime);

    // Agents run on the host's network for now, so the URL they are given is the one the host reaches ApiService at.
    builder.AddProject<Projects.Deployer>("deployer")
        .WithHttpEndpoint()
        .WithReference(postgres, "postgres").WaitFor(postgres)
        .WithReference(redis).WaitFor(redis)
        .WithReference(apiservice).WaitFor(apiservice)
        .WithEnvironment("Hangar__SigningKey", signingKey)
        .WithEnvironment("Deployer__Runtime", deployerRuntime)
        .WithEnvironment("Deployer__Docker__NetworkMode", "host")
        .WithHttpHealthCheck("/health");
}

Console.WriteLine($"Hangar: {servers.Description}; Deployer: {deployerRuntime}{settings.DeployerRuntimeReason}.");
Console.WriteLine("Hangar: the API key is the parameter api-key (the dashboard shows it; `dotnet user-secrets list --project AppHost` prints it).");

await builder.Build().RunAsync();
return 0;
