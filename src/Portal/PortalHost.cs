using Portal.Admin;
using Portal.Agents;
using Portal.Components;
using Portal.Components.Account;
using Portal.Configuration;
using Portal.Endpoints;
using Portal.Endpoints.AgentSocket;
using Portal.Endpoints.Ces;
using Portal.Endpoints.ChatSocket;
using Portal.Endpoints.Hub;
using Portal.Endpoints.Sockets;
using Portal.Memory;
using Portal.Proxy;
using Portal.Proxy.Telemetry;
using Portal.Security;
using Portal.Security.Google;
using Portal.Security.Limits;
using Portal.Sessions;

namespace Portal;

/// <summary>How Portal is put together; Program.cs and the tests build the same host from here.</summary>
public static class PortalHost
{
    public const string DefaultUrl = "http://127.0.0.1:5000";

    /// <summary>A builder with Portal's defaults: .env read, configuration beside the binaries, web root wwwroot/, port 5000 on loopback.</summary>
    public static WebApplicationBuilder CreateBuilder(string[] args)
    {
        DotEnvFile.Load(Path.Combine(Environment.CurrentDirectory, ".env"));
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ApplicationName = "Portal",
            ContentRootPath = AppContext.BaseDirectory,
            WebRootPath = Path.Combine(AppContext.BaseDirectory, "wwwroot"),
        });
        builder.Configuration.AddSourceAliases();
        // Package assets (Radzen's _content/...) are served from where the build left them in every environment,
        // not only Development; a published app has them in wwwroot/ and this is a no-op.
        builder.WebHost.UseStaticWebAssets();
        if (!HasConfiguredUrls(builder.Configuration))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }
        builder.WebHost.UseCesProxyListener(builder.Configuration);
        return builder;
    }

    public static WebApplicationBuilder AddPortalServices(this WebApplicationBuilder builder)
    {
        builder.AddSessions();
        builder.AddPortalSecurity();
        builder.AddPortalRequestSecurity();
        builder.AddGoogleSignIn();
        builder.AddPortalLimits();
        builder.AddAgents();
        builder.AddPortalHealthChecks();
        builder.AddPortalUi();
        builder.AddPortalAdmin();
        builder.AddIdleCollection();
        builder.Services.AddCesProxy();
        builder.Services.AddOptions<CesRecordingOptions>().BindConfiguration(CesRecordingOptions.Section);
        builder.Services.AddSingleton<ICesProxyObserver, CesSessionRecorder>();
        builder.Services.AddOptions<SocketOptions>().BindConfiguration(SocketOptions.Section);
        builder.Services.AddOptions<ChatSocketOptions>().BindConfiguration(ChatSocketOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<SessionPresence>();
        builder.Services.AddSingleton<SocketConnections>();
        builder.AddSessionHub();
        builder.Services.AddProblemDetails();
        return builder;
    }

    public static WebApplication MapPortal(this WebApplication app)
    {
        app.UsePortalRequestSecurity();
        app.UsePortalLimitsOnCesListener();
        app.UseCesProxyListener();
        if (!app.Environment.IsDevelopment())
        {
            app.UseExceptionHandler("/error", createScopeForErrors: true);
        }
        app.UseStatusCodePages();
        app.UseStaticFiles();
        // Before authentication: an access_token in the query counts only on a WebSocket upgrade, which this detects.
        app.UseSocketLingering();
        app.UseWebSockets();
        app.UseAuthentication();
        app.UsePortalLimits();
        app.UseAuthorization();
        app.UseAntiforgery();

        app.MapStaticAssets();
        app.MapPortalHealth();
        app.MapSessionApi();
        app.MapAdminApi();
        app.MapSeedSessions();
        app.MapAccountEndpoints();
        app.MapCesProxy("/ces");
        app.MapAgentSocket();
        app.MapChatSocket();
        app.MapSessionHub();
        app.MapPortalUi();
        return app;
    }

    private static bool HasConfiguredUrls(ConfigurationManager configuration) =>
        !string.IsNullOrEmpty(configuration["urls"])
        || !string.IsNullOrEmpty(configuration["http_ports"])
        || !string.IsNullOrEmpty(configuration["https_ports"])
        || configuration.GetSection("Kestrel:Endpoints").Exists();
}
