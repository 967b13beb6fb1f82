using System.Net;
using Microsoft.Extensions.Options;

namespace Portal.Security.Google;

/// <summary>
/// <c>Portal:Google</c>: sign-in with Google ID tokens (Google Identity Services). Off until <see cref="ClientId"/> is set.
/// </summary>
public sealed class GoogleSignInOptions
{
    public const string Section = "Portal:Google";
    public const string GoogleCertificatesUrl = "https://www.googleapis.com/oauth2/v3/certs";

    /// <summary>The OAuth client id of this Portal (<c>....apps.googleusercontent.com</c>); ID tokens must name it as their audience.</summary>
    public string? ClientId { get; set; }

    /// <summary>Google Workspace domains (the token's <c>hd</c> claim) whose accounts may sign in; empty means any, unless <see cref="AllowedEmails"/> is set.</summary>
    public List<string> AllowedDomains { get; set; } = [];

    /// <summary>Single addresses that may sign in whatever their domain (a consultant's gmail.com, say).</summary>
    public List<string> AllowedEmails { get; set; } = [];

    /// <summary>Create a Portal account (role user) at the first Google sign-in of an allowed person with none; otherwise an administrator creates it first.</summary>
    public bool CreateAccounts { get; set; }

    /// <summary>Where Google's token-signing keys (JWKS) are fetched; only tests and mirrors change it.</summary>
    public string CertificatesUrl { get; set; } = GoogleCertificatesUrl;

    /// <summary>How long fetching the keys may take before the sign-in is answered with "try again".</summary>
    public TimeSpan KeysTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public bool Enabled => !string.IsNullOrWhiteSpace(ClientId);

    /// <summary>True when every verified Google account passes the allow-lists (a warning at start if accounts are also created).</summary>
    public bool AllowsEveryAccount => AllowedDomains.Count == 0 && AllowedEmails.Count == 0;

    internal static void ReadLists(GoogleSignInOptions options, IConfiguration configuration)
    {
        options.AllowedDomains = ConfigurationLists.Read(configuration, $"{Section}:{nameof(AllowedDomains)}");
        options.AllowedEmails = ConfigurationLists.Read(configuration, $"{Section}:{nameof(AllowedEmails)}");
    }
}

internal sealed class GoogleSignInOptionsValidation : IValidateOptions<GoogleSignInOptions>
{
    public ValidateOptionsResult Validate(string? name, GoogleSignInOptions options)
    {
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }
        // Keys over plain HTTP could be swapped on the way; only a fake on this machine may use it.
        if (!Uri.TryCreate(options.CertificatesUrl, UriKind.Absolute, out var url)
            || !(url.Scheme == Uri.UriSchemeHttps || (url.Scheme == Uri.UriSchemeHttp && IsLoopback(url))))
        {
            return ValidateOptionsResult.Fail(
                $"{GoogleSignInOptions.Section}:CertificatesUrl must be an https URL (default {GoogleSignInOptions.GoogleCertificatesUrl}).");
        }
        if (options.KeysTimeout <= TimeSpan.Zero)
        {
            return ValidateOptionsResult.Fail($"{GoogleSignInOptions.Section}:KeysTimeout must be positive.");
        }
        if (options.AllowedDomains.FirstOrDefault(d => d.Contains('@', StringComparison.Ordinal) || d.Contains('/', StringComparison.Ordinal)) is { } domain)
        {
            return ValidateOptionsResult.Fail(
                $"{GoogleSignInOptions.Section}:AllowedDomains: '{domain}' is not a domain; write example.com (addresses go in AllowedEmails).");
        }
        if (options.AllowedEmails.FirstOrDefault(e => !e.Contains('@', StringComparison.Ordinal)) is { } email)
        {
            return ValidateOptionsResult.Fail($"{GoogleSignInOptions.Section}:AllowedEmails: '{email}' is not an e-mail address.");
        }
        return ValidateOptionsResult.Success;
    }

    private static bool IsLoopback(Uri url) =>
        url.IsLoopback || (IPAddress.TryParse(url.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
}
