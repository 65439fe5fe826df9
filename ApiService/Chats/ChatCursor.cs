using System.Globalization;

namespace Hangar.ApiService.Chats;

/// <summary>The opaque position of a chat in the newest-first listing: its creation time in microseconds and its id.</summary>
internal sealed record ChatCursor(DateTimeOffset CreatedAt, Guid Id)
{
    public static string Format(Chat chat) =>
        $"{(chat.CreatedAt - DateTimeOffset.UnixEpoch).Ticks / 10}_{chat.Id:N}";

    public static ChatCursor? TryParse(string? cursor)
    {
        var parts = cursor?.Split('_');
        return parts is [var micros, var id] && long.TryParse(micros, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && Guid.TryParseExact(id, "N", out var guid)
            ? new ChatCursor(DateTimeOffset.UnixEpoch.AddTicks(value * 10), guid)
            : null;
    }
}
