using Hangar.ApiService.AgentApi;
using Hangar.ApiService.Agents;
using Hangar.ApiService.Chats;
using Hangar.ApiService.Deployments;
using Hangar.ApiService.Extensions;
using Hangar.ApiService.Runs;
using Hangar.ApiService.Telemetry;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApiServices();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseAuthentication();
app.UseAuthorization();

app.MapDefaultEndpoints();
app.MapOpenApi("/api/openapi.json");
app.MapAgentsApi();
app.MapDeploymentsApi();
app.MapDeploymentTokensApi();
app.MapAgentEnvironmentApi();
app.MapAgentMeApi();
app.MapOtlpIngest();
app.MapTelemetryApi();
app.MapChatsApi();
app.MapRunsApi();

app.Run();
