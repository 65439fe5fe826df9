// The Deployer's host: telemetry and health endpoints. The reconcile loop and the container runtimes are issue 4;
// until then ApiService runs only deployments of runtime "external", which need no Deployer.
var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults("Hangar.Deployer");

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();
