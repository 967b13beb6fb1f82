using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Portal.Proxy.Configuration;

/// <summary>
/// The reference proxy's environment variables, applied before the <c>CesProxy</c> section is bound so that the
/// section wins where both are set.
/// </summary>
internal static class SeedVariables
{
    private const string AppsOverridePrefix = "PS_ENDPOINT_TEMPLATE_";
    private const string AgentsOverridePrefix = "PBL_ENDPOINT_TEMPLATE_";

    public static void Apply(CesProxyOptions options, IConfiguration configuration)
    {
        Set(configuration, "PROJECT_ID", v => options.ProjectId = v);
        Set(configuration, "REGION", v => options.Region = v);
        Set(configuration, "WEBSOCKET_SERVER_PORT", v => options.WebSocketServerPort = int.Parse(v, CultureInfo.InvariantCulture));
        Set(configuration, "TOKEN_TTL", v => options.TokenTtlSeconds = int.Parse(v, CultureInfo.InvariantCulture));
        Set(configuration, "OAUTH_SCOPES", v => options.OAuthScopes = v);
        Set(configuration, "AUTHORIZED_ORIGINS", v => options.AuthorizedOrigins = v);
        Set(configuration, "ALLOW_LOCALHOST", v => options.AllowLocalhost = IsTrue(v));
        Set(configuration, "STRIPPED_KEYS", v => options.StrippedKeys = v);
        Set(configuration, "CES_API_DOMAIN", v => options.CesApiDomain = v);
        Set(configuration, "PS_ENDPOINT_TEMPLATE", v => options.AppsEndpointTemplate = v);
        Set(configuration, "PBL_ENDPOINT_TEMPLATE", v => options.AgentsEndpointTemplate = v);
        foreach (var entry in configuration.GetChildren())
        {
            if (string.IsNullOrWhiteSpace(entry.Value))
            {
                continue;
            }
            if (entry.Key.StartsWith(AppsOverridePrefix, StringComparison.OrdinalIgnoreCase))
            {
                options.AppsEndpointTemplatesByEnvironment[entry.Key[AppsOverridePrefix.Length..]] = entry.Value.Trim();
            }
            else if (entry.Key.StartsWith(AgentsOverridePrefix, StringComparison.OrdinalIgnoreCase))
            {
                options.AgentsEndpointTemplatesByEnvironment[entry.Key[AgentsOverridePrefix.Length..]] = entry.Value.Trim();
            }
        }
    }

    /// <summary>As the reference: true, 1 or yes, in any case.</summary>
    public static bool IsTrue(string value) => value.Trim().ToLowerInvariant() is "true" or "1" or "yes";

    private static void Set(IConfiguration configuration, string variable, Action<string> apply)
    {
        var value = configuration[variable];
        if (string.IsNullOrWhiteSpace(value))
        {
            return;
        }
        try
        {
            apply(value.Trim());
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"{variable}='{value}' is not a valid value.");
        }
        catch (OverflowException)
        {
            throw new InvalidOperationException($"{variable}='{value}' is out of range.");
        }
    }
}
