using Microsoft.AspNetCore.Components.Endpoints;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Radzen;

namespace Portal.Components;

public static class UiServiceCollectionExtensions
{
    /// <summary>Portal's pages may be framed by Portal's own pages only: no other site can overlay an approval's buttons.</summary>
    private const string FrameAncestors = "frame-ancestors 'self'";

    /// <summary>The Blazor Server UI: interactive server components and Radzen.</summary>
    public static IHostApplicationBuilder AddPortalUi(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<UiOptions>().BindConfiguration(UiOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddRazorComponents()
            .AddInteractiveServerComponents();
        builder.Services.AddRadzenComponents();
        return builder;
    }

    public static IEndpointRouteBuilder MapPortalUi(this IEndpointRouteBuilder app)
    {
        var ui = app.ServiceProvider.GetRequiredService<IOptions<UiOptions>>().Value;
        app.MapRazorComponents<App>()
            .AddInteractiveServerRenderMode(server =>
            {
                server.DisableWebSocketCompression = !ui.WebSocketCompression;
                // ASP.NET adds frame-ancestors to the pages only while compression is on; Portal adds it either way.
                server.ContentSecurityFrameAncestorsPolicy = null;
            })
            .Add(RefuseForeignFrames);
        return app;
    }

    private static void RefuseForeignFrames(EndpointBuilder endpoint)
    {
        if (!endpoint.Metadata.OfType<ComponentTypeMetadata>().Any() || endpoint.RequestDelegate is not { } page)
        {
            return;
        }
        endpoint.RequestDelegate = context =>
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = StringValues.Concat(headers.ContentSecurityPolicy, FrameAncestors);
            return page(context);
        };
    }
}
