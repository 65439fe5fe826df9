using System.Text.Json;
using System.Text.Json.Serialization;
using Hangar.ApiService.Agents;
using Hangar.ApiService.Chats;
using Hangar.ApiService.Runs;

namespace Hangar.ApiService.Http;

/// <summary>Every type on Hangar's wire, snake_case; UIMessage parts pass through as raw JSON and keep the SDK's camelCase.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(Agent))]
[JsonSerializable(typeof(List<Agent>))]
[JsonSerializable(typeof(CreateAgentRequest))]
[JsonSerializable(typeof(UpdateAgentRequest))]
[JsonSerializable(typeof(Deployment))]
[JsonSerializable(typeof(List<Deployment>))]
[JsonSerializable(typeof(CreateDeploymentRequest))]
[JsonSerializable(typeof(RedeployRequest))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(DeploymentToken))]
[JsonSerializable(typeof(EnvironmentVariable))]
[JsonSerializable(typeof(List<EnvironmentVariable>))]
[JsonSerializable(typeof(SetEnvironmentVariableRequest))]
[JsonSerializable(typeof(List<DeploymentToken>))]
[JsonSerializable(typeof(Chat))]
[JsonSerializable(typeof(Page<Chat>))]
[JsonSerializable(typeof(Message))]
[JsonSerializable(typeof(List<Message>))]
[JsonSerializable(typeof(CreateChatRequest))]
[JsonSerializable(typeof(SendMessagesRequest))]
[JsonSerializable(typeof(SendMessagesResponse))]
[JsonSerializable(typeof(ChatCreatedResponse))]
[JsonSerializable(typeof(StreamLocation))]
[JsonSerializable(typeof(Run))]
[JsonSerializable(typeof(List<Run>))]
[JsonSerializable(typeof(Step))]
[JsonSerializable(typeof(List<Step>))]
[JsonSerializable(typeof(ChunkEvent))]
[JsonSerializable(typeof(Hangar.ApiService.AgentApi.DeleteMessagesRequest))]
[JsonSerializable(typeof(Hangar.ApiService.Telemetry.TelemetryPage<Hangar.ApiService.Telemetry.LogEntry>))]
[JsonSerializable(typeof(Hangar.ApiService.Telemetry.TelemetryPage<Hangar.ApiService.Telemetry.SpanEntry>))]
[JsonSerializable(typeof(Hangar.ApiService.Telemetry.TraceTree))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(string))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
