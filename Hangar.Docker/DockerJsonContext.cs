using System.Text.Json.Serialization;

namespace Hangar.Docker;

[JsonSerializable(typeof(Dictionary<string, string[]>))]
internal sealed partial class DockerJsonContext : JsonSerializerContext;
