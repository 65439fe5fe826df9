using Hangar.Contracts;
using Hangar.StreamHub;
using Hangar.StreamHub.Streams;
using Microsoft.Extensions.Options;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.Services.AddOptions<StreamHubOptions>().BindConfiguration(StreamHubOptions.Section)
    .Validate(o => !string.IsNullOrWhiteSpace(o.SigningKey), "Hangar:SigningKey is required: the same secret ApiService signs stream tickets with.")
    .Validate(o => o.MaxQueuedEvents > 0 && o.ChatsPerReader > 0 && o.ReadBatchSize > 0, "Hangar:MaxQueuedEvents, ChatsPerReader and ReadBatchSize must be positive.")
    .Validate(o => (long)o.ReadBatchSize * ChatEvents.MaxEventsPerEntry <= o.MaxQueuedEvents,
        $"Hangar:MaxQueuedEvents must hold one full read: at least Hangar:ReadBatchSize × {ChatEvents.MaxEventsPerEntry} (the events a stream entry may hold).")
    .Validate(_ => builder.Configuration.GetConnectionString("redis") is not null, "ConnectionStrings:redis is not set.")
    .ValidateOnStart();
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(sp => TokenSigner.FromBase64(sp.GetRequiredService<IOptions<StreamHubOptions>>().Value.SigningKey, "Hangar:SigningKey"));
builder.Services.AddSingleton<ChatFeeds>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<ChatFeeds>());
builder.Services.AddSingleton(sp => new StreamMetrics(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), () => sp.GetRequiredService<ChatFeeds>().ActiveFeeds));

var app = builder.Build();

app.UseExceptionHandler();
app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = app.Services.GetRequiredService<IOptions<StreamHubOptions>>().Value.HeartbeatInterval });
app.MapDefaultEndpoints();
app.MapChatStreams();

app.Run();
