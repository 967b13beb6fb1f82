using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Portal.Testing.Fakes;

/// <summary>
/// Google's side of "Sign in with Google": an RSA key, its public half as the JWKS that www.googleapis.com serves at
/// /oauth2/v3/certs, and ID tokens signed with it as Google Identity Services hands them to a page (RS256, kid,
/// iss https://accounts.google.com, aud = the client id). Portal is pointed here with Portal:Google:CertificatesUrl.
/// </summary>
public sealed class FakeGoogleIdentity : IAsyncDisposable
{
    public const string ClientId = "1234567890-portal.apps.googleusercontent.com";
    public const string KeyId = "fake-google-key-1";

    private readonly WebApplication _app;
    private int _keyRequests;

    private FakeGoogleIdentity(WebApplication app, RSA key)
    {
        _app = app;
        Key = key;
        CertificatesUrl = new Uri(new Uri(app.Urls.First()), "/oauth2/v3/certs");
    }

    public RSA Key { get; }
    public Uri CertificatesUrl { get; }
    public int KeyRequests => Volatile.Read(ref _keyRequests);

    /// <summary>Portal's settings for Google sign-in against this fake.</summary>
    public Dictionary<string, string?> Settings() => new()
    {
        ["Portal:Google:ClientId"] = ClientId,
        ["Portal:Google:CertificatesUrl"] = CertificatesUrl.ToString(),
    };

    public static async Task<FakeGoogleIdentity> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var key = RSA.Create(2048);
        FakeGoogleIdentity? fake = null;
        app.MapGet("/oauth2/v3/certs", () =>
        {
            Interlocked.Increment(ref fake!._keyRequests);
            var parameters = key.ExportParameters(includePrivateParameters: false);
            return Results.Json(new
            {
                keys = new[]
                {
                    new { kty = "RSA", use = "sig", alg = "RS256", kid = KeyId, n = Base64Url.EncodeToString(parameters.Modulus), e = Base64Url.EncodeToString(parameters.Exponent) },
                },
            });
        });
        await app.StartAsync();
        fake = new FakeGoogleIdentity(app, key);
        return fake;
    }

    /// <summary>
    /// An ID token for <paramref name="email"/> as Google signs it, valid for an hour from now. <paramref name="change"/>
    /// edits the claims before signing (null removes one); <paramref name="signingKey"/> signs with another key.
    /// </summary>
    public string IssueIdToken(string email, string? subject = null, string? hostedDomain = null,
        Action<Dictionary<string, object?>>? change = null, RSA? signingKey = null)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var claims = new Dictionary<string, object?>
        {
            ["iss"] = "https://accounts.google.com",
            ["azp"] = ClientId,
            ["aud"] = ClientId,
            ["sub"] = subject ?? SubjectOf(email),
            ["email"] = email,
            ["email_verified"] = true,
            ["name"] = email.Split('@')[0],
            ["iat"] = now,
            ["nbf"] = now - 5,
            ["exp"] = now + 3600,
            ["jti"] = Guid.NewGuid().ToString("N"),
        };
        if (hostedDomain is not null)
        {
            claims["hd"] = hostedDomain;
        }
        change?.Invoke(claims);
        foreach (var key in claims.Where(c => c.Value is null).Select(c => c.Key).ToList())
        {
            claims.Remove(key);
        }
        var header = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new { alg = "RS256", kid = KeyId, typ = "JWT" }));
        var payload = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signature = (signingKey ?? Key).SignData(Encoding.ASCII.GetBytes($"{header}.{payload}"), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return $"{header}.{payload}.{Base64Url.EncodeToString(signature)}";
    }

    /// <summary>Google's stable account id for an address, in these tests: 21 digits derived from it.</summary>
    public static string SubjectOf(string email) =>
        string.Concat(SHA256.HashData(Encoding.UTF8.GetBytes(email)).Take(11).Select(b => (b % 100).ToString("D2", System.Globalization.CultureInfo.InvariantCulture)))[..21];

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        Key.Dispose();
    }
}
