using Hangar.Contracts;
using Microsoft.Extensions.Options;

namespace Hangar.ApiService.Chats;

/// <summary>Issues the signed ticket and URL a client needs to watch one chat on StreamHub.</summary>
internal sealed class StreamTickets(TokenSigner signer, IOptions<HangarOptions> options, IConfiguration configuration, TimeProvider time)
{
    private readonly string _baseUrl = (options.Value.StreamHubUrl
        ?? configuration.GetSection("services:streamhub").GetChildren().SelectMany(scheme => scheme.GetChildren()).Select(e => e.Value).FirstOrDefault(v => v is not null)
        ?? string.Empty).TrimEnd('/');

    public StreamLocation Issue(Guid organizationId, Guid chatId, string lastEventId)
    {
        var expires = time.GetUtcNow() + options.Value.StreamTicketLifetime;
        var ticket = signer.Sign(StreamTicket.Purpose, new StreamTicket { ChatId = chatId, OrganizationId = organizationId, ExpiresAtUnixSeconds = expires.ToUnixTimeSeconds() },
            ContractsJsonContext.Default.StreamTicket);
        var url = $"{_baseUrl}/streams/chats/{chatId}?ticket={Uri.EscapeDataString(ticket)}&after={Uri.EscapeDataString(lastEventId)}";
        return new StreamLocation(url, ticket, lastEventId, expires);
    }
}
