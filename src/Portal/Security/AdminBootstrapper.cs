using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace Portal.Security;

/// <summary>
/// At start-up: makes sure the roles exist and that there is an administrator. With Portal:Admin:Email and
/// Password configured it creates that account; otherwise it prints a one-time setup link to the console once the
/// server listens (printed, not logged: the link is a credential).
/// </summary>
internal sealed partial class AdminBootstrapper(
    IServiceScopeFactory scopes,
    IOptions<AdminOptions> options,
    SetupToken setupToken,
    IServer server,
    ILogger<AdminBootstrapper> logger) : IHostedLifecycleService
{
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var roles = scope.ServiceProvider.GetRequiredService<RoleManager<IdentityRole>>();
        foreach (var role in PortalRoles.All)
        {
            if (!await roles.RoleExistsAsync(role))
            {
                Check(await roles.CreateAsync(new IdentityRole(role)), $"create role {role}");
            }
        }
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        if ((await users.GetUsersInRoleAsync(PortalRoles.Admin)).Count > 0)
        {
            return;
        }
        var admin = options.Value;
        if (!string.IsNullOrWhiteSpace(admin.Email) && !string.IsNullOrEmpty(admin.Password))
        {
            var user = await users.FindByEmailAsync(admin.Email);
            if (user is null)
            {
                user = new PortalUser { UserName = admin.Email, Email = admin.Email, EmailConfirmed = true };
                Check(await users.CreateAsync(user, admin.Password), $"create the administrator {admin.Email} (Portal:Admin)");
            }
            Check(await users.AddToRolesAsync(user, PortalRoles.All), "give the administrator its roles");
            Log.AdminCreated(logger, admin.Email);
            return;
        }
        _needsSetup = true;
    }

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        if (_needsSetup)
        {
            var token = setupToken.Issue();
            var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "http://127.0.0.1:5000";
            Console.Out.WriteLine();
            Console.Out.WriteLine("  No administrator exists yet. Open this one-time link to create one:");
            Console.Out.WriteLine($"  {BrowsableAddress(address)}/setup?token={token}");
            Console.Out.WriteLine();
            Log.SetupLinkPrinted(logger);
        }
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private bool _needsSetup;

    /// <summary>A wildcard listen address becomes one a browser on this machine can open.</summary>
    internal static string BrowsableAddress(string address)
    {
        var uri = new UriBuilder(address.Replace("://+", "://localhost", StringComparison.Ordinal)
            .Replace("://*", "://localhost", StringComparison.Ordinal));
        if (uri.Host is "0.0.0.0" or "[::]" or "::")
        {
            uri.Host = "localhost";
        }
        return uri.Uri.GetLeftPart(UriPartial.Authority);
    }

    private static void Check(IdentityResult result, string what)
    {
        if (!result.Succeeded)
        {
            throw new InvalidOperationException(
                $"Could not {what}: {string.Join(" ", result.Errors.Select(e => e.Description))}");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Administrator {Email} created from configuration")]
        public static partial void AdminCreated(ILogger logger, string email);

        [LoggerMessage(2, LogLevel.Warning, "No administrator exists; a one-time setup link was printed to the console")]
        public static partial void SetupLinkPrinted(ILogger logger);
    }
}
