using System.Buffers.Text;
using System.Text.Json;
using Google.Apis.Auth;
using Google.Apis.Json;
using Microsoft.Extensions.Options;

namespace Portal.Security.Google;

/// <summary>A Google account whose ID token passed every check.</summary>
internal sealed record GoogleIdentity(string Subject, string Email, string? Name, string? HostedDomain);

/// <summary>The outcome of checking an ID token: the identity, or why not.</summary>
internal readonly record struct GoogleTokenCheck(GoogleIdentity? Identity, GoogleRefusal Refusal, string? Email = null);

/// <summary>
/// Checks a Google ID token (the <c>credential</c> Google Identity Services hands the page) with Google.Apis.Auth.
/// <para>
/// <c>GoogleJsonWebSignature.ValidateAsync</c> is Google.Apis.Auth's <c>JsonWebSignature.VerifySignedTokenAsync</c>
/// with Google's issuers, Google's key set, 30 s of issued-at tolerance, plus three checks of its own: RS256, at most
/// 10,000 characters, the <c>hd</c> claim. Its settings (1.78.0) cannot point at another key set, so Portal makes that
/// same call with the same options and a configurable <c>CertificatesUrl</c>, and the same three checks; tests then
/// run the production path against a key endpoint on loopback. Keys are cached by Google.Apis.Auth for an hour.
/// </para>
/// Then: the audience is exactly this Portal's client id (the library lets a token without <c>aud</c> through), the
/// e-mail is verified by Google, and the account passes <c>AllowedDomains</c>/<c>AllowedEmails</c>.
/// The token itself is never logged or stored.
/// </summary>
internal sealed partial class GoogleIdTokenValidator(IOptions<GoogleSignInOptions> options, ILogger<GoogleIdTokenValidator> logger)
{
    internal const int MaxTokenLength = 10_000;
    private static readonly string[] GoogleIssuers = ["https://accounts.google.com", "accounts.google.com"];

    public async Task<GoogleTokenCheck> ValidateAsync(string? token, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            return new(null, GoogleRefusal.NotConfigured);
        }
        if (!IsWellFormed(token))
        {
            return new(null, GoogleRefusal.Malformed);
        }

        GoogleJsonWebSignature.Payload payload;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.KeysTimeout);
        try
        {
            payload = await JsonWebSignature.VerifySignedTokenAsync<GoogleJsonWebSignature.Payload>(token, Verification(settings), timeout.Token);
        }
        catch (InvalidJwtException ex)
        {
            return new(null, Classify(ex.Message));
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // The token parsed (IsWellFormed), so what failed is fetching or reading the key set.
            Log.KeysUnavailable(logger, settings.CertificatesUrl, ex);
            return new(null, GoogleRefusal.KeysUnavailable);
        }

        if (!payload.AudienceAsList.Contains(settings.ClientId!, StringComparer.Ordinal))
        {
            return new(null, GoogleRefusal.WrongAudience);
        }
        if (string.IsNullOrEmpty(payload.Subject))
        {
            return new(null, GoogleRefusal.Malformed);
        }
        if (string.IsNullOrWhiteSpace(payload.Email) || !payload.EmailVerified)
        {
            return new(null, GoogleRefusal.EmailNotVerified, payload.Email);
        }
        if (!IsAllowed(settings, payload.Email, payload.HostedDomain))
        {
            return new(null, GoogleRefusal.NotAllowed, payload.Email);
        }
        return new(new GoogleIdentity(payload.Subject, payload.Email, payload.Name, payload.HostedDomain), GoogleRefusal.None, payload.Email);
    }

    /// <summary>The options <c>GoogleJsonWebSignature.ValidationSettings</c> would build, with the configured key set.</summary>
    private static SignedTokenVerificationOptions Verification(GoogleSignInOptions settings)
    {
        var verification = new SignedTokenVerificationOptions
        {
            CertificatesUrl = settings.CertificatesUrl,
            IssuedAtClockTolerance = TimeSpan.FromSeconds(30),
            ExpiryClockTolerance = TimeSpan.Zero,
        };
        verification.TrustedAudiences.Add(settings.ClientId!);
        foreach (var issuer in GoogleIssuers)
        {
            verification.TrustedIssuers.Add(issuer);
        }
        return verification;
    }

    private static bool IsAllowed(GoogleSignInOptions settings, string email, string? hostedDomain) =>
        settings.AllowsEveryAccount
        || (hostedDomain is not null && settings.AllowedDomains.Contains(hostedDomain, StringComparer.OrdinalIgnoreCase))
        || settings.AllowedEmails.Contains(email, StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Three base64url parts, an RS256 header, a payload Google.Apis.Auth's own serializer reads: anything else is
    /// refused here, so a forged token cannot surface as a parsing exception later.
    /// </summary>
    private static bool IsWellFormed([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength)
        {
            return false;
        }
        var parts = token.Split('.');
        if (parts.Length != 3 || parts.Any(p => p.Length == 0))
        {
            return false;
        }
        try
        {
            using var header = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[0]));
            if (header.RootElement.ValueKind != JsonValueKind.Object
                || !header.RootElement.TryGetProperty("alg", out var alg) || alg.ValueKind != JsonValueKind.String || alg.GetString() != "RS256")
            {
                return false;
            }
            _ = Base64Url.DecodeFromChars(parts[2]);
            var payload = System.Text.Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1]));
            return NewtonsoftJsonSerializer.Instance.Deserialize<GoogleJsonWebSignature.Payload>(payload) is not null;
        }
        catch (Exception)
        {
            // Attacker-supplied input: whatever fails to parse is a malformed token, not an error.
            return false;
        }
    }

    /// <summary>Google.Apis.Auth's refusals (texts of 1.78.0; the integration tests pin each one).</summary>
    private static GoogleRefusal Classify(string message) =>
        message.StartsWith("JWT has expired", StringComparison.Ordinal) ? GoogleRefusal.Expired
        : message.StartsWith("JWT is not yet valid", StringComparison.Ordinal) ? GoogleRefusal.NotYetValid
        : message.Contains("'aud'", StringComparison.Ordinal) ? GoogleRefusal.WrongAudience
        : message.StartsWith("JWT issuer incorrect", StringComparison.Ordinal) ? GoogleRefusal.WrongIssuer
        : message.Contains("unable to verify signature", StringComparison.Ordinal) ? GoogleRefusal.BadSignature
        : GoogleRefusal.Malformed;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Google sign-in: could not fetch or read the token-signing keys from {CertificatesUrl}")]
        public static partial void KeysUnavailable(ILogger logger, string certificatesUrl, Exception exception);
    }
}
