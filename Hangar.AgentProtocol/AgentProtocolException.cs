namespace Hangar.AgentProtocol;

/// <summary>The agent broke the protocol: bad framing, a chunk that is not a JSON object, or chunks out of order.</summary>
public sealed class AgentProtocolException(string message, Exception? inner = null) : Exception(message, inner);
