using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Rendering;
using Microsoft.AspNetCore.Components.Routing;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Portal.Benchmarks.Circuits;

/// <summary>
/// The smallest Blazor Web App with interactive server rendering, as the template makes it with global interactivity
/// and without its layout: a document, an interactive router, one counter page. It serves Microsoft's
/// <c>blazor.web.js</c> from the same place as Portal (its build copies it beside the benchmark) and runs in a process of
/// its own with Portal's garbage-collector settings (workstation, concurrent), as the baseline for memory per circuit.
/// The components are written in C# because this project has no Razor compiler; they render what the .razor files
/// would.
/// </summary>
internal static class MinimalBlazorApp
{
    public static async Task<int> ServeUntilKilledAsync(string[] args)
    {
        var at = Array.IndexOf(args, "--port");
        var port = int.Parse(args[at + 1], CultureInfo.InvariantCulture);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            WebRootPath = Path.Combine(AppContext.BaseDirectory, "wwwroot"),
            EnvironmentName = "Production",
        });
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        var app = builder.Build();
        app.UseStaticFiles();
        app.UseAntiforgery();
        app.MapRazorComponents<MinimalDocument>().AddInteractiveServerRenderMode();
        await app.RunAsync();
        return 0;
    }
}

/// <summary>App.razor: the HTML document, the interactive routes and the Blazor script.</summary>
public sealed class MinimalDocument : ComponentBase
{
    protected override void BuildRenderTree(RenderTreeBuilder builder)
    {
        builder.AddMarkupContent(0, "<!DOCTYPE html>\n");
        builder.OpenElement(1, "html");
        builder.AddAttribute(2, "lang", "en");
        builder.AddMarkupContent(3, """<head><meta charset="utf-8" /><base href="/" /><title>Minimal</title></head>""");
        builder.OpenElement(4, "body");
        builder.OpenComponent<MinimalRoutes>(5);
        builder.AddComponentRenderMode(RenderMode.InteractiveServer);
        builder.CloseComponent();
        builder.AddMarkupContent(6, """<script src="_framework/blazor.web.js"></script>""");
        builder.CloseElement();
        builder.CloseElement();
    }
}

/// <summary>Routes.razor: a router over this assembly's pages.</summary>
public sealed class MinimalRoutes : ComponentBase
{
    protected override void BuildRenderTree(RenderTreeBuilder builder)
    {
        builder.OpenComponent<Router>(0);
        builder.AddComponentParameter(1, nameof(Router.AppAssembly), typeof(MinimalRoutes).Assembly);
        builder.AddComponentParameter(2, nameof(Router.Found), (RenderFragment<RouteData>)(routeData => found =>
        {
            found.OpenComponent<RouteView>(0);
            found.AddComponentParameter(1, nameof(RouteView.RouteData), routeData);
            found.CloseComponent();
        }));
        builder.CloseComponent();
    }
}

/// <summary>Counter.razor at "/"; <c>data-interactive</c> turns true once the circuit renders it.</summary>
[Route("/")]
public sealed class MinimalCounter : ComponentBase
{
    private int _count;

    protected override void BuildRenderTree(RenderTreeBuilder builder)
    {
        builder.AddMarkupContent(0, "<h1>Counter</h1>");
        builder.OpenElement(1, "p");
        builder.AddAttribute(2, "role", "status");
        builder.AddAttribute(3, "data-interactive", RendererInfo.IsInteractive ? "true" : "false");
        builder.AddContent(4, "Current count: ");
        builder.AddContent(5, _count);
        builder.CloseElement();
        builder.OpenElement(6, "button");
        builder.AddAttribute(7, "class", "btn btn-primary");
        builder.AddAttribute(8, "onclick", EventCallback.Factory.Create<MouseEventArgs>(this, () => _count++));
        builder.AddContent(9, "Click me");
        builder.CloseElement();
    }
}
