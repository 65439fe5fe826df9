using Hangar.Contracts;
using Hangar.Deployer;
using Hangar.Deployer.Deployments;
using Hangar.Deployer.Runtimes;

// The Deployer: the only process that talks to Docker. It reconciles the deployments in PostgreSQL with the
// containers (or, without Docker, the local processes) that run them.
var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();

var options = builder.Configuration.GetSection(DeployerOptions.Section).Get<DeployerOptions>() ?? new DeployerOptions();
options.ApiUrl ??= builder.Configuration["services:apiservice:http:0"]
    ?? throw new InvalidOperationException("Deployer:ApiUrl is not set, nor services:apiservice:http:0: agents need ApiService's URL.");
var signingKey = builder.Configuration["Hangar:SigningKey"]
    ?? throw new InvalidOperationException("Hangar:SigningKey is not set: the Deployer opens the agents' secrets with it.");

var runtime = await RuntimeChooser.ChooseAsync(options, Installation.Of(signingKey));
Console.WriteLine($"Deployer runtime: {runtime.Description}");

builder.Services.AddSingleton(options);
builder.AddNpgsqlDataSource("postgres");
builder.Services.AddSingleton(SecretBox.FromBase64(signingKey));
builder.Services.AddSingleton<DeploymentStore>();
builder.Services.AddSingleton<IAgentRuntime>(_ => runtime.Runtime);
if (runtime.Docker is { } docker)
{
    builder.Services.AddSingleton(docker);
}

// Health probes of agents: their timeout and the failures in a row they allow are the Deployer's own, not the
// resilience handler's (RemoveAllResilienceHandlers lets one client out of the defaults; it is marked experimental).
#pragma warning disable EXTEXP0001
builder.Services.AddHttpClient(Reconciler.HealthClient, client => client.Timeout = options.LivenessTimeout).RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
builder.Services.AddHostedService<Reconciler>();

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();
