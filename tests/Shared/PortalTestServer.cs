using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Identity;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Portal.Security;

namespace Portal.Testing;

/// <summary>
/// Portal as it runs in production, started in-process on real Kestrel at 127.0.0.1 on a free port, with its SQLite
/// database in a fresh temp folder. An administrator (admin@portal.test) exists from configuration.
/// </summary>
public sealed partial class PortalTestServer : IAsyncDisposable
{
    public const string AdminEmail = "admin@portal.test";
    public const string Password = "Test-passw0rd!";

    private readonly WebApplication _app;

    private PortalTestServer(WebApplication app, string folder)
    {
        _app = app;
        Folder = folder;
        BaseAddress = new Uri(app.Urls.First());
    }

    public Uri BaseAddress { get; }
    public string Folder { get; }
    public IServiceProvider Services => _app.Services;

    /// <param name="settings">Configuration on top of the test defaults.</param>
    /// <param name="withAdmin">Whether admin@portal.test is created at start.</param>
    /// <param name="configure">Runs after Portal's services are added, before the host is built (extra log providers, replaced services).</param>
    /// <param name="map">Maps endpoints besides Portal's own.</param>
    /// <param name="folder">Where the database goes; a fresh temp folder when null. A given folder is not deleted at the end.</param>
    public static async Task<PortalTestServer> StartAsync(Dictionary<string, string?>? settings = null, bool withAdmin = true,
        Action<WebApplicationBuilder>? configure = null, Action<WebApplication>? map = null, string? folder = null)
    {
        var owned = folder is null;
        folder ??= Directory.CreateTempSubdirectory("portal-it-").FullName;
        var builder = PortalHost.CreateBuilder(["--urls", "http://127.0.0.1:0"]);
        var config = new Dictionary<string, string?>
        {
            ["Portal:Sessions:DatabasePath"] = Path.Combine(folder, "portal.db"),
            ["Portal:OfflineAgent:TokenDelay"] = "00:00:00.010",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        if (withAdmin)
        {
            config["Portal:Admin:Email"] = AdminEmail;
            config["Portal:Admin:Password"] = Password;
        }
        foreach (var (key, value) in settings ?? [])
        {
            config[key] = value;
        }
        builder.Configuration.AddInMemoryCollection(config);
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new TestOutputLoggerProvider());
        builder.AddPortalServices();
        configure?.Invoke(builder);
        var app = builder.Build();
        app.MapPortal();
        map?.Invoke(app);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new PortalTestServer(app, folder) { _ownsFolder = owned };
    }

    private bool _ownsFolder = true;

    /// <summary>A client that keeps cookies and does not follow redirects, so tests see what the server answered.</summary>
    public HttpClient CreateClient(CookieContainer? cookies = null) =>
        new(new HttpClientHandler { CookieContainer = cookies ?? new CookieContainer(), AllowAutoRedirect = false, UseCookies = true })
        {
            BaseAddress = BaseAddress,
            Timeout = TimeSpan.FromSeconds(30),
        };

    /// <summary>Creates a local account with the user role (or the admin role too).</summary>
    public async Task<string> CreateUserAsync(string email, bool admin = false)
    {
        await using var scope = Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var user = new PortalUser { UserName = email, Email = email, EmailConfirmed = true };
        var result = await users.CreateAsync(user, Password);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException(string.Join(" ", result.Errors.Select(e => e.Description)));
        }
        await users.AddToRolesAsync(user, admin ? PortalRoles.All : [PortalRoles.User]);
        return user.Id;
    }

    /// <summary>Signs in through the real sign-in form (antiforgery token included) and returns a client holding the cookie.</summary>
    public async Task<HttpClient> SignInAsync(string email, string password = Password)
    {
        var client = CreateClient();
        using var response = await PostSignInFormAsync(client, email, password);
        if (response.StatusCode != HttpStatusCode.Redirect)
        {
            throw new InvalidOperationException($"Sign-in of {email} failed: {(int)response.StatusCode}");
        }
        return client;
    }

    /// <summary>Signs in and returns the cookies, for clients that are not an HttpClient (<c>ClientWebSocket.Options.Cookies</c>).</summary>
    public async Task<CookieContainer> SignInCookiesAsync(string email, string password = Password)
    {
        var cookies = new CookieContainer();
        using var client = CreateClient(cookies);
        using var response = await PostSignInFormAsync(client, email, password);
        if (response.StatusCode != HttpStatusCode.Redirect)
        {
            throw new InvalidOperationException($"Sign-in of {email} failed: {(int)response.StatusCode}");
        }
        return cookies;
    }

    /// <summary>Fills in and posts the sign-in form as a browser would.</summary>
    public static async Task<HttpResponseMessage> PostSignInFormAsync(HttpClient client, string email, string password)
    {
        var form = await client.GetStringAsync("/account/login", TestContext.Current.CancellationToken);
        return await client.PostAsync("/account/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "login",
            ["__RequestVerificationToken"] = AntiforgeryToken(form),
            ["Input.Email"] = email,
            ["Input.Password"] = password,
        }), TestContext.Current.CancellationToken);
    }

    public static string AntiforgeryToken(string html) => AntiforgeryField().Match(html).Groups[1].Value;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        SqliteConnection.ClearAllPools();
        if (!_ownsFolder)
        {
            return;
        }
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}

