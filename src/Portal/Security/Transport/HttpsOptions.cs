namespace Portal.Security.Transport;

/// <summary>
/// <c>Portal:RequireHttps</c>, <c>Portal:HttpsPort</c>, <c>Portal:HstsMaxAge</c>: whether Portal insists on HTTPS. A
/// request counts as HTTPS when it reached Kestrel over TLS or a trusted proxy said so in X-Forwarded-Proto.
/// </summary>
public sealed class HttpsOptions
{
    public const string Section = "Portal";

    /// <summary>Redirect plain HTTP to HTTPS (308), send Strict-Transport-Security, and mark every cookie Secure.</summary>
    public bool RequireHttps { get; set; }

    /// <summary>Port of the HTTPS address people use, when not 443 (the redirect's target).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 65535)]
    public int? HttpsPort { get; set; }

    /// <summary>max-age of Strict-Transport-Security when HTTPS is required; zero sends no header.</summary>
    public TimeSpan HstsMaxAge { get; set; } = TimeSpan.FromDays(365);
}
