namespace Portal.Proxy.Configuration;

/// <summary>Checks that go beyond data annotations: templates are WebSocket URLs with a location, base URLs parse.</summary>
internal static class CesProxyOptionsValidation
{
    public const string Message =
        "CesProxy: endpoint templates must be ws:// or wss:// URLs containing {location} (PS_ENDPOINT_TEMPLATE*, PBL_ENDPOINT_TEMPLATE*), "
        + "TextApiBaseUrl must be an http(s) URL, PROJECT_ID a project id, and the timeouts must be positive.";

    public static bool IsValid(CesProxyOptions options) =>
        new[] { options.AppsEndpointTemplate, options.AgentsEndpointTemplate }
            .Concat(options.AppsEndpointTemplatesByEnvironment.Values)
            .Concat(options.AgentsEndpointTemplatesByEnvironment.Values)
            .All(IsTemplate)
        && (string.IsNullOrWhiteSpace(options.TextApiBaseUrl) || Uri.TryCreate(options.TextApiBaseUrl, UriKind.Absolute, out var text) && text.Scheme is "http" or "https")
        && (string.IsNullOrWhiteSpace(options.ProjectId) || ConfigMessage.ProjectPattern().IsMatch(options.ProjectId))
        && options.FirstMessageTimeout > TimeSpan.Zero
        && options.UpstreamConnectTimeout > TimeSpan.Zero
        && options.CloseTimeout > TimeSpan.Zero
        && options.TextRequestTimeout > TimeSpan.Zero
        && options.KeepAliveInterval >= TimeSpan.Zero
        && options.IdleTimeout >= TimeSpan.Zero;

    private static bool IsTemplate(string? template) =>
        template is not null
        && template.Contains("{location}", StringComparison.Ordinal)
        && Uri.TryCreate(template.Replace("{location}", "us", StringComparison.Ordinal), UriKind.Absolute, out var uri)
        && uri.Scheme is "ws" or "wss";
}
