using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Portal.Security;
using Portal.Testing;
using Portal.Testing.Fakes;

namespace Portal.IntegrationTests.Security;

/// <summary>
/// Sign-in with Google ID tokens, through the sign-in page's form as Google Identity Services' callback posts it, against
/// a fake key endpoint on loopback serving the JWKS of a key generated here.
/// </summary>
public sealed class GoogleSignInTests
{
    private const string Alice = "alice@example.com";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(PortalTestServer Server, FakeGoogleIdentity Google)> StartAsync(
        Dictionary<string, string?>? extra = null, Action<WebApplicationBuilder>? configure = null)
    {
        var google = await FakeGoogleIdentity.StartAsync();
        var settings = google.Settings();
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }
        return (await PortalTestServer.StartAsync(settings, configure: configure), google);
    }

    /// <summary>What the page's script does with Google's credential: fills the Google form and posts it.</summary>
    internal static async Task<HttpResponseMessage> PostCredentialAsync(HttpClient client, string credential, string path = "/account/login")
    {
        var page = await client.GetStringAsync(path, Ct);
        return await client.PostAsync(path, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "google",
            ["__RequestVerificationToken"] = PortalTestServer.AntiforgeryToken(page),
            ["credential"] = credential,
            ["remember"] = "false",
        }), Ct);
    }

    private static async Task<string> RefusalAsync(HttpResponseMessage response, CookieContainer cookies)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(cookies.GetAllCookies(), c => c.Name == "portal.auth");
        return WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task LoginPage_WithoutAClientId_ShowsNoGoogleButton()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var client = server.CreateClient();

        var page = await client.GetStringAsync("/account/login", Ct);

        Assert.DoesNotContain("data-testid=\"google-signin\"", page, StringComparison.Ordinal);
        Assert.DoesNotContain("data-google-client-id", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoginPage_WithAClientId_ShowsTheGoogleButtonsPlaceAndForm()
    {
        var (server, google) = await StartAsync();
        await using var serverScope = server;
        await using var googleScope = google;
        using var client = server.CreateClient();

        var page = await client.GetStringAsync("/account/login", Ct);

        Assert.Contains("data-testid=\"google-signin\"", page, StringComparison.Ordinal);
        Assert.Contains($"data-google-client-id=\"{FakeGoogleIdentity.ClientId}\"", page, StringComparison.Ordinal);
        Assert.Contains("name=\"_handler\" value=\"google\"", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GoogleSignIn_WithAValidToken_SignsInTheAccountWithThatAddressAndLinksIt()
    {
        var (server, google) = await StartAsync();
        await using var serverScope = server;
        await using var googleScope = google;
        var userId = await server.CreateUserAsync(Alice);
        using var client = server.CreateClient();

        using var response = await PostCredentialAsync(client, google.IssueIdToken(Alice, hostedDomain: "example.com"), "/account/login?returnUrl=%2Fadmin%2Fstatus");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/admin/status", new Uri(server.BaseAddress, response.Headers.Location!).AbsolutePath);
        using var sessions = await client.GetAsync("/api/sessions", Ct);
        Assert.Equal(HttpStatusCode.OK, sessions.StatusCode);
        await using var scope = server.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var linked = await users.FindByLoginAsync("Google", FakeGoogleIdentity.SubjectOf(Alice));
        Assert.Equal(userId, linked?.Id);
        Assert.Equal(1, google.KeyRequests);
    }

    [Fact]
    public async Task GoogleSignIn_OnceLinked_FindsTheAccountByGoogleSubjectEvenWithANewAddress()
    {
        var (server, google) = await StartAsync();
        await using var serverScope = server;
        await using var googleScope = google;
        await server.CreateUserAsync(Alice);
        using (var first = server.CreateClient())
        {
            using var linked = await PostCredentialAsync(first, google.IssueIdToken(Alice));
            Assert.Equal(HttpStatusCode.Redirect, linked.StatusCode);
        }
        using var client = server.CreateClient();

        using var response = await PostCredentialAsync(client, google.IssueIdToken("alice.renamed@example.com", subject: FakeGoogleIdentity.SubjectOf(Alice)));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var me = await client.GetStringAsync("/", Ct);
        Assert.Contains(Alice, me, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> Refusals => new()
    {
        { "wrong-audience", "made for another application" },
        { "no-audience", "made for another application" },
        { "expired", "has expired" },
        { "bad-signature", "signature on this sign-in could not be verified" },
        { "wrong-issuer", "not issued by Google" },
        { "unverified-email", "has not verified the e-mail address" },
        { "wrong-domain", "is not from a domain or address allowed" },
        { "no-domain", "is not from a domain or address allowed" },
        { "not-a-token", "not a valid Google sign-in" },
        { "alg-none", "not a valid Google sign-in" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task GoogleSignIn_WithABadToken_IsRefusedWithAMessageAndNoCookie(string defect, string message)
    {
        var (server, google) = await StartAsync(new() { ["Portal:Google:AllowedDomains"] = "example.com;example.org" });
        await using var serverScope = server;
        await using var googleScope = google;
        await server.CreateUserAsync(Alice);
        using var otherKey = System.Security.Cryptography.RSA.Create(2048);
        var token = defect switch
        {
            "wrong-audience" => google.IssueIdToken(Alice, hostedDomain: "example.com", change: c => c["aud"] = "someone-else.apps.googleusercontent.com"),
            "no-audience" => google.IssueIdToken(Alice, hostedDomain: "example.com", change: c => c["aud"] = null),
            "expired" => google.IssueIdToken(Alice, hostedDomain: "example.com", change: c =>
            {
                c["iat"] = DateTimeOffset.UtcNow.AddMinutes(-65).ToUnixTimeSeconds();
                c["exp"] = DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds();
            }),
            "bad-signature" => google.IssueIdToken(Alice, hostedDomain: "example.com", signingKey: otherKey),
            "wrong-issuer" => google.IssueIdToken(Alice, hostedDomain: "example.com", change: c => c["iss"] = "https://accounts.evil.example"),
            "unverified-email" => google.IssueIdToken(Alice, hostedDomain: "example.com", change: c => c["email_verified"] = false),
            "wrong-domain" => google.IssueIdToken("mallory@other.example", hostedDomain: "other.example"),
            "no-domain" => google.IssueIdToken("alice.private@gmail.com"),
            "not-a-token" => "not-a-token",
            "alg-none" => "eyJhbGciOiJub25lIn0." + google.IssueIdToken(Alice, hostedDomain: "example.com").Split('.')[1] + ".",
            _ => throw new ArgumentOutOfRangeException(nameof(defect)),
        };
        var cookies = new CookieContainer();
        using var client = server.CreateClient(cookies);

        using var response = await PostCredentialAsync(client, token);

        var page = await RefusalAsync(response, cookies);
        Assert.Contains(message, page, StringComparison.Ordinal);
        using var sessions = await client.GetAsync("/api/sessions", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, sessions.StatusCode);
    }

    [Fact]
    public async Task GoogleSignIn_FromAnAllowedAddressOutsideTheDomains_IsAccepted()
    {
        var (server, google) = await StartAsync(new()
        {
            ["Portal:Google:AllowedDomains:0"] = "example.com",
            ["Portal:Google:AllowedEmails:0"] = "consultant@gmail.com",
        });
        await using var serverScope = server;
        await using var googleScope = google;
        await server.CreateUserAsync("consultant@gmail.com");
        using var client = server.CreateClient();

        using var response = await PostCredentialAsync(client, google.IssueIdToken("consultant@gmail.com"));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
    }

    [Fact]
    public async Task GoogleSignIn_WithNoAccountAndCreationOff_IsRefusedWithAMessage()
    {
        var (server, google) = await StartAsync();
        await using var serverScope = server;
        await using var googleScope = google;
        var cookies = new CookieContainer();
        using var client = server.CreateClient(cookies);

        using var response = await PostCredentialAsync(client, google.IssueIdToken("newcomer@example.com"));

        var page = await RefusalAsync(response, cookies);
        Assert.Contains("There is no Portal account for newcomer@example.com", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GoogleSignIn_WithNoAccountAndCreationOn_CreatesAPlainUserAndSignsIn()
    {
        var (server, google) = await StartAsync(new()
        {
            ["Portal:Google:CreateAccounts"] = "true",
            ["Portal:Google:AllowedDomains:0"] = "example.com",
        });
        await using var serverScope = server;
        await using var googleScope = google;
        using var client = server.CreateClient();

        using var response = await PostCredentialAsync(client, google.IssueIdToken("newcomer@example.com", hostedDomain: "example.com"));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        await using var scope = server.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var created = await users.FindByEmailAsync("newcomer@example.com");
        Assert.NotNull(created);
        Assert.Equal([PortalRoles.User], await users.GetRolesAsync(created));
        Assert.False(await users.HasPasswordAsync(created));
        using var admin = await client.GetAsync("/api/admin/status", Ct);
        Assert.Equal(HttpStatusCode.Forbidden, admin.StatusCode);
    }

    [Fact]
    public async Task GoogleSignIn_ToASelfRegisteredAccount_IsNotLinked()
    {
        var (server, google) = await StartAsync();
        await using var serverScope = server;
        await using var googleScope = google;
        await using (var scope = server.Services.CreateAsyncScope())
        {
            // Registered on the sign-in page by someone who typed this address: Portal never proved who owns it.
            var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
            await users.CreateAsync(new PortalUser { UserName = Alice, Email = Alice }, PortalTestServer.Password);
        }
        var cookies = new CookieContainer();
        using var client = server.CreateClient(cookies);

        using var response = await PostCredentialAsync(client, google.IssueIdToken(Alice));

        var page = await RefusalAsync(response, cookies);
        Assert.Contains("its address was never confirmed", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GoogleSignIn_WhenGooglesKeysCannotBeFetched_SaysToTryAgain()
    {
        await using var server = await PortalTestServer.StartAsync(new()
        {
            ["Portal:Google:ClientId"] = FakeGoogleIdentity.ClientId,
            ["Portal:Google:CertificatesUrl"] = "http://127.0.0.1:1/oauth2/v3/certs",
        });
        await using var google = await FakeGoogleIdentity.StartAsync();
        await server.CreateUserAsync(Alice);
        var cookies = new CookieContainer();
        using var client = server.CreateClient(cookies);

        using var response = await PostCredentialAsync(client, google.IssueIdToken(Alice));

        var page = await RefusalAsync(response, cookies);
        Assert.Contains("could not reach Google", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GoogleSignIn_Tokens_AreNeitherLoggedNorStored()
    {
        var log = new CapturingLoggerProvider();
        var (server, google) = await StartAsync(configure: builder => builder.Logging
            .AddProvider(log)
            .AddFilter<CapturingLoggerProvider>(null, LogLevel.Trace));
        await using var serverScope = server;
        await using var googleScope = google;
        await server.CreateUserAsync(Alice);
        var valid = google.IssueIdToken(Alice);
        var expired = google.IssueIdToken(Alice, change: c =>
        {
            c["iat"] = DateTimeOffset.UtcNow.AddHours(-2).ToUnixTimeSeconds();
            c["exp"] = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeSeconds();
        });
        using (var client = server.CreateClient())
        {
            using var refused = await PostCredentialAsync(client, expired);
            using var signedIn = await PostCredentialAsync(client, valid);
            Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        }

        Assert.Contains(log.Messages, m => m.Contains("signed in with Google", StringComparison.Ordinal));
        Assert.Contains(log.Messages, m => m.Contains("Google sign-in refused: Expired", StringComparison.Ordinal));
        var stored = await ReadAllFilesAsync(server.Folder);
        foreach (var token in new[] { valid, expired })
        {
            var parts = token.Split('.');
            Assert.DoesNotContain(log.Messages, m => m.Contains(parts[1], StringComparison.Ordinal) || m.Contains(parts[2], StringComparison.Ordinal));
            Assert.DoesNotContain(parts[1], stored, StringComparison.Ordinal);
            Assert.DoesNotContain(parts[2], stored, StringComparison.Ordinal);
        }
    }

    /// <summary>The database, its WAL and the data-protection keys, read while Portal has them open.</summary>
    private static async Task<string> ReadAllFilesAsync(string folder)
    {
        var text = new StringBuilder();
        foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream, Encoding.Latin1);
            text.Append(await reader.ReadToEndAsync(Ct));
        }
        return text.ToString();
    }

    /// <summary>Every log message at every level, with its exception.</summary>
    internal sealed class CapturingLoggerProvider : ILoggerProvider
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _messages = new();

        public IReadOnlyCollection<string> Messages => _messages;

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _messages);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, System.Collections.Concurrent.ConcurrentQueue<string> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                messages.Enqueue($"[{logLevel}] {category}: {formatter(state, exception)} {exception}");
        }
    }
}
