using Radzen;

namespace Portal.Components;

public static class UiServiceCollectionExtensions
{
    /// <summary>The Blazor Server UI: interactive server components and Radzen.</summary>
    public static IHostApplicationBuilder AddPortalUi(this IHostApplicationBuilder builder)
    {
        builder.Services.AddRazorComponents()
            .AddInteractiveServerComponents();
        builder.Services.AddRadzenComponents();
        return builder;
    }

    public static IEndpointRouteBuilder MapPortalUi(this IEndpointRouteBuilder app)
    {
        app.MapRazorComponents<App>()
            .AddInteractiveServerRenderMode();
        return app;
    }
}
