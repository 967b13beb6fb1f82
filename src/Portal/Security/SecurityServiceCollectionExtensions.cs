using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Portal.Security.Tokens;
using Portal.Sessions;
using Portal.Sessions.Storage;

namespace Portal.Security;

public static class SecurityServiceCollectionExtensions
{
    public const string AdminPolicy = "admin";

    /// <summary>Local accounts with ASP.NET Core Identity on the Portal database, cookie sign-in, API tokens, roles admin and user.</summary>
    public static IHostApplicationBuilder AddPortalSecurity(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<AccountsOptions>().BindConfiguration(AccountsOptions.Section);
        services.AddOptions<AdminOptions>().BindConfiguration(AdminOptions.Section);

        services.AddAuthentication(options =>
            {
                // The sign-in cookie, or on the API surface an API token when the request carries one.
                options.DefaultScheme = ApiTokenDefaults.CookieOrToken;
                options.DefaultSignInScheme = IdentityConstants.ExternalScheme;
            })
            .AddIdentityCookies();
        builder.AddApiTokens();
        services.ConfigureApplicationCookie(options =>
        {
            options.LoginPath = "/account/login";
            options.LogoutPath = "/account/logout";
            options.AccessDeniedPath = "/account/denied";
            options.Cookie.Name = "portal.auth";
            options.Cookie.HttpOnly = true;
            options.Cookie.SameSite = SameSiteMode.Lax;
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.SlidingExpiration = true;
            options.ExpireTimeSpan = TimeSpan.FromDays(14);
            // Programs get status codes, people get the sign-in page.
            options.Events.OnRedirectToLogin = context => RedirectOrStatus(context, StatusCodes.Status401Unauthorized);
            options.Events.OnRedirectToAccessDenied = context => RedirectOrStatus(context, StatusCodes.Status403Forbidden);
        });

        services.AddIdentityCore<PortalUser>(options =>
            {
                options.SignIn.RequireConfirmedAccount = false;
                options.User.RequireUniqueEmail = true;
                options.Password.RequiredLength = 8;
                options.Lockout.MaxFailedAccessAttempts = 10;
            })
            .AddRoles<IdentityRole>()
            .AddEntityFrameworkStores<PortalDbContext>()
            .AddSignInManager()
            .AddDefaultTokenProviders();
        // Identity's stores take a scoped DbContext; Portal otherwise uses the factory.
        services.AddScoped(sp => sp.GetRequiredService<Microsoft.EntityFrameworkCore.IDbContextFactory<PortalDbContext>>().CreateDbContext());

        services.AddDataProtection()
            .SetApplicationName("Portal")
            .PersistKeysToFileSystem(new DirectoryInfo(KeysDirectory(builder.Configuration)));

        services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, policy => policy.RequireRole(PortalRoles.Admin));
        services.AddCascadingAuthenticationState();
        services.AddScoped<AuthenticationStateProvider, RevalidatingIdentityAuthenticationStateProvider>();

        services.AddSingleton<SetupToken>();
        services.AddHostedService<AdminBootstrapper>();
        return builder;
    }

    /// <summary>Data-protection keys (cookies, antiforgery) live beside the database so sign-ins survive restarts.</summary>
    private static string KeysDirectory(IConfiguration configuration)
    {
        var databasePath = configuration[$"{SessionsOptions.Section}:{nameof(SessionsOptions.DatabasePath)}"] ?? new SessionsOptions().DatabasePath;
        var folder = Path.GetDirectoryName(Path.GetFullPath(databasePath, Environment.CurrentDirectory))!;
        return Path.Combine(folder, "keys");
    }

    private static Task RedirectOrStatus(Microsoft.AspNetCore.Authentication.RedirectContext<CookieAuthenticationOptions> context, int status)
    {
        if (IsProgrammaticRequest(context.Request))
        {
            context.Response.StatusCode = status;
            return Task.CompletedTask;
        }
        context.Response.Redirect(context.RedirectUri);
        return Task.CompletedTask;
    }

    internal static bool IsProgrammaticRequest(HttpRequest request) =>
        request.Path.StartsWithSegments("/api") || request.Path.StartsWithSegments("/sessions")
        || request.Path.StartsWithSegments("/ws") || request.Path.StartsWithSegments("/hubs")
        || request.Headers.XRequestedWith == "XMLHttpRequest"
        || !(request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase) || request.Headers.Accept.Count == 0);
}

/// <summary>Re-checks the security stamp of a circuit's user every 30 minutes, so a revoked sign-in ends live pages too.</summary>
internal sealed class RevalidatingIdentityAuthenticationStateProvider(
    ILoggerFactory loggerFactory,
    IServiceScopeFactory scopeFactory,
    IOptions<IdentityOptions> options)
    : Microsoft.AspNetCore.Components.Server.RevalidatingServerAuthenticationStateProvider(loggerFactory)
{
    protected override TimeSpan RevalidationInterval => TimeSpan.FromMinutes(30);

    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken)
    {
        await using var scope = scopeFactory.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var user = await users.GetUserAsync(authenticationState.User);
        if (user is null)
        {
            return false;
        }
        if (!users.SupportsUserSecurityStamp)
        {
            return true;
        }
        var principalStamp = authenticationState.User.FindFirstValue(options.Value.ClaimsIdentity.SecurityStampClaimType);
        return principalStamp == await users.GetSecurityStampAsync(user);
    }
}
