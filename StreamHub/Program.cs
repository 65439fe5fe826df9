using Hangar.Contracts;
using Hangar.StreamHub;
using Hangar.StreamHub.Streams;
using Microsoft.Extensions.Options;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults("Hangar.StreamHub");
builder.Services.AddOptions<StreamHubOptions>().BindConfiguration(StreamHubOptions.Section)
    .Validate(o => !string.IsNullOrWhiteSpace(o.SigningKey), "Hangar:SigningKey is required: the same secret ApiService signs stream tickets with.")
    .Validate(_ => builder.Configuration.GetConnectionString("redis") is not null, "ConnectionStrings:redis is not set.")
    .ValidateOnStart();
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(sp => TokenSigner.FromBase64(sp.GetRequiredService<IOptions<StreamHubOptions>>().Value.SigningKey, "Hangar:SigningKey"));

var app = builder.Build();

app.UseExceptionHandler();
app.MapDefaultEndpoints();
app.MapChatStreams();

app.Run();
