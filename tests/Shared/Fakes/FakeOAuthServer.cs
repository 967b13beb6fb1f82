using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Portal.Testing.Fakes;

/// <summary>
/// Google's OAuth token endpoint, as a service account meets it: a POST of a JWT-bearer grant whose assertion is an
/// RS256 JWT signed with the account's private key. The fake checks the signature with the public key it generated,
/// counts requests, and answers with an access token and its lifetime.
/// </summary>
public sealed class FakeOAuthServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly RSA _key;
    private int _requests;

    private FakeOAuthServer(WebApplication app, RSA key, string folder)
    {
        _app = app;
        _key = key;
        Folder = folder;
        TokenUri = new Uri(new Uri(app.Urls.First()), "/token");
        CredentialsFile = Path.Combine(folder, "service-account.json");
        File.WriteAllText(CredentialsFile, JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["type"] = "service_account",
            ["project_id"] = "test-project",
            ["private_key_id"] = "test-key-1",
            ["private_key"] = key.ExportPkcs8PrivateKeyPem(),
            ["client_email"] = ClientEmail,
            ["client_id"] = "1234567890",
            ["token_uri"] = TokenUri.ToString(),
        }));
    }

    public const string ClientEmail = "portal-proxy@test-project.iam.gserviceaccount.com";
    public Uri TokenUri { get; }
    public string Folder { get; }
    /// <summary>A service-account key file whose token_uri points here.</summary>
    public string CredentialsFile { get; }
    public int Requests => Volatile.Read(ref _requests);
    /// <summary>Lifetime of issued tokens (expires_in).</summary>
    public int ExpiresInSeconds { get; set; } = 3600;
    /// <summary>How long the endpoint takes to answer.</summary>
    public TimeSpan Delay { get; set; }
    /// <summary>When set, the endpoint answers this status with an OAuth error.</summary>
    public int? FailWith { get; set; }
    public List<string> Scopes { get; } = [];

    public static async Task<FakeOAuthServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        FakeOAuthServer? fake = null;
        app.MapPost("/token", (Delegate)((HttpContext context) => fake!.IssueAsync(context)));
        await app.StartAsync();
        fake = new FakeOAuthServer(app, RSA.Create(2048), Directory.CreateTempSubdirectory("portal-oauth-").FullName);
        return fake;
    }

    private async Task<IResult> IssueAsync(HttpContext context)
    {
        var number = Interlocked.Increment(ref _requests);
        if (Delay > TimeSpan.Zero)
        {
            await Task.Delay(Delay);
        }
        if (FailWith is { } status)
        {
            return Results.Json(new { error = "invalid_grant", error_description = "Test failure" }, statusCode: status);
        }
        var form = await context.Request.ReadFormAsync();
        if (form["grant_type"] != "urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return Results.Json(new { error = "unsupported_grant_type" }, statusCode: 400);
        }
        var parts = form["assertion"].ToString().Split('.');
        if (parts.Length != 3 || !_key.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), FromBase64Url(parts[2]),
                HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1))
        {
            return Results.Json(new { error = "invalid_grant", error_description = "Invalid JWT signature." }, statusCode: 400);
        }
        using var claims = JsonDocument.Parse(FromBase64Url(parts[1]));
        if (claims.RootElement.GetProperty("iss").GetString() != ClientEmail)
        {
            return Results.Json(new { error = "invalid_grant", error_description = "Wrong issuer." }, statusCode: 400);
        }
        if (claims.RootElement.TryGetProperty("scope", out var scope))
        {
            lock (Scopes)
            {
                Scopes.Add(scope.GetString() ?? "");
            }
        }
        return Results.Json(new { access_token = $"ya29.test-{number}", expires_in = ExpiresInSeconds, token_type = "Bearer" });
    }

    private static byte[] FromBase64Url(string value)
    {
        var padded = value.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(padded.PadRight(padded.Length + (4 - padded.Length % 4) % 4, '='));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _key.Dispose();
        Directory.Delete(Folder, recursive: true);
    }
}
