namespace Portal.Memory;

public static class MemoryServiceCollectionExtensions
{
    /// <summary>Memory given back to the system when Portal turns quiet (<see cref="IdleCollector"/>).</summary>
    public static IHostApplicationBuilder AddIdleCollection(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<IdleCollectionOptions>().BindConfiguration(IdleCollectionOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IRuntimeMemory, ProcessRuntimeMemory>();
        builder.Services.AddHostedService<IdleCollector>();
        return builder;
    }
}
