using Portal.Agents.Chat;
using Portal.Agents.Offline;

namespace Portal.Agents;

public static class AgentsServiceCollectionExtensions
{
    /// <summary>The agents conversations talk to; for now the built-in offline agent.</summary>
    public static IHostApplicationBuilder AddAgents(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<OfflineAgentOptions>().BindConfiguration(OfflineAgentOptions.Section);
        builder.Services.AddSingleton<OfflineAgent>();
        builder.Services.AddSingleton<ChatService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ChatService>());
        return builder;
    }
}
