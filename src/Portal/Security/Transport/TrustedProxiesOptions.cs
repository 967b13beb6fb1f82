using System.Net;
using Microsoft.Extensions.Options;

namespace Portal.Security.Transport;

/// <summary>
/// <c>Portal:ForwardedHeaders</c>: which peers may tell Portal, in <c>X-Forwarded-For</c>, <c>-Proto</c> and <c>-Host</c>,
/// who the client is and whether it came over HTTPS. Headers from any other peer are ignored, so a client that reaches
/// Portal directly cannot choose its own IP address or pretend to be on HTTPS.
/// </summary>
public sealed class TrustedProxiesOptions
{
    public const string Section = "Portal:ForwardedHeaders";

    /// <summary>Whether a proxy on this machine (127.0.0.0/8, ::1) is trusted: the usual nginx in front of Portal.</summary>
    public bool TrustLoopback { get; set; } = true;

    /// <summary>Addresses of proxies whose forwarded headers are used (<c>10.0.0.5</c>); <c>;</c>-separated in one variable works too.</summary>
    public List<string> KnownProxies { get; set; } = [];

    /// <summary>Networks of such proxies in CIDR notation (<c>172.18.0.0/16</c>, a container network).</summary>
    public List<string> KnownNetworks { get; set; } = [];

    /// <summary>How many proxies, counted from Portal, may have added an entry to X-Forwarded-For.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 10)]
    public int ForwardLimit { get; set; } = 1;

    internal static void ReadLists(TrustedProxiesOptions options, IConfiguration configuration)
    {
        options.KnownProxies = ConfigurationLists.Read(configuration, $"{Section}:{nameof(KnownProxies)}");
        options.KnownNetworks = ConfigurationLists.Read(configuration, $"{Section}:{nameof(KnownNetworks)}");
    }
}

internal sealed class TrustedProxiesOptionsValidation : IValidateOptions<TrustedProxiesOptions>
{
    public ValidateOptionsResult Validate(string? name, TrustedProxiesOptions options)
    {
        var errors = new List<string>();
        errors.AddRange(options.KnownProxies.Where(p => !IPAddress.TryParse(p, out _))
            .Select(p => $"{TrustedProxiesOptions.Section}:KnownProxies: '{p}' is not an IP address."));
        errors.AddRange(options.KnownNetworks.Where(n => !IPNetwork.TryParse(n, out _))
            .Select(n => $"{TrustedProxiesOptions.Section}:KnownNetworks: '{n}' is not a network in CIDR notation (e.g. 172.18.0.0/16)."));
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
