using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Portal.Agents.Chat;
using Portal.Agents.Configuration;
using Portal.Agents.Offline;
using Portal.Agents.Runtime;
using Portal.Security.Limits;

namespace Portal.Agents;

public static class AgentsServiceCollectionExtensions
{
    /// <summary>The agent runtime, the configured agents (the offline one always among them) and the chat UI's service.</summary>
    public static IHostApplicationBuilder AddAgents(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<OfflineAgentOptions>().BindConfiguration(OfflineAgentOptions.Section);
        services.AddOptions<AgentsOptions>().BindConfiguration(AgentsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AgentsOptions>, AgentsOptionsValidator>();
        services.AddSingleton<OfflineModel>();
        services.AddSingleton<AgentCatalog>();
        foreach (var provider in ProviderKinds.All)
        {
            // Streams can be long: the runtime bounds the wait between chunks instead (Portal:Agents:ProviderTimeout).
            services.AddHttpClient(provider, (sp, http) => http.Timeout = sp.GetRequiredService<IOptions<AgentsOptions>>().Value.ProviderTimeout);
        }
        services.AddSingleton<AgentRuntime>();
        services.AddHostedService(sp => sp.GetRequiredService<AgentRuntime>());
        services.AddSingleton<ChatService>();
        // The chat page's new conversations count against Portal:Limits (defaults when AddPortalLimits is not called).
        services.TryAddSingleton<ClientLimits>();
        return builder;
    }
}
