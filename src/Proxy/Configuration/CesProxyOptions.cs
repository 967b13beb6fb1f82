using System.ComponentModel.DataAnnotations;

namespace Portal.Proxy.Configuration;

/// <summary>
/// Settings of the CES proxy, bound from the <c>CesProxy</c> configuration section. The reference proxy's
/// environment variables (<c>PROJECT_ID</c>, <c>TOKEN_TTL</c>, <c>AUTHORIZED_ORIGINS</c>, ...) are honoured as
/// aliases; a value set in the section wins over its alias.
/// </summary>
public sealed class CesProxyOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "CesProxy";

    /// <summary>Default template for CES apps (<c>PS_ENDPOINT_TEMPLATE</c>).</summary>
    public const string DefaultAppsEndpointTemplate =
        "wss://ces.googleapis.com/ws/google.cloud.ces.v1.SessionService/BidiRunSession/locations/{location}";

    /// <summary>Default template for Dialogflow Playbooks agents (<c>PBL_ENDPOINT_TEMPLATE</c>).</summary>
    public const string DefaultAgentsEndpointTemplate =
        "wss://{location}-dialogflow-webchannel.googleapis.com/ws/google.cloud.dialogflow.v3alpha1.Sessions/BidiStreamingDetectIntent";

    /// <summary>Project billed through <c>X-Goog-User-Project</c>; when empty, the project of the session name (<c>PROJECT_ID</c>).</summary>
    public string? ProjectId { get; set; }

    /// <summary>Region this proxy runs in, for the operator's reference (<c>REGION</c>).</summary>
    public string Region { get; set; } = "us-central1";

    /// <summary>Port of a second listener where the proxy answers at <c>/</c>, as the reference proxy does (<c>WEBSOCKET_SERVER_PORT</c>).</summary>
    [Range(1, 65535)]
    public int? WebSocketServerPort { get; set; }

    /// <summary>Address of that listener; all interfaces by default, as the reference proxy.</summary>
    public string WebSocketServerHost { get; set; } = "0.0.0.0";

    /// <summary>Seconds a minted access token is reused, never past its own expiry (<c>TOKEN_TTL</c>).</summary>
    [Range(1, 86_400)]
    public int TokenTtlSeconds { get; set; } = 300;

    /// <summary>Comma-separated OAuth scopes of minted tokens (<c>OAUTH_SCOPES</c>).</summary>
    [Required]
    public string OAuthScopes { get; set; } = "https://www.googleapis.com/auth/cloud-platform";

    /// <summary>Service-account key file to mint tokens with; empty means Application Default Credentials.</summary>
    public string? CredentialsFile { get; set; }

    /// <summary>Semicolon-separated origins allowed to connect; empty allows every origin (<c>AUTHORIZED_ORIGINS</c>).</summary>
    public string? AuthorizedOrigins { get; set; }

    /// <summary>Also allow any http(s)://localhost[:port] origin (<c>ALLOW_LOCALHOST</c>).</summary>
    public bool AllowLocalhost { get; set; }

    /// <summary>Semicolon-separated keys or dot paths removed from upstream JSON frames (<c>STRIPPED_KEYS</c>).</summary>
    public string? StrippedKeys { get; set; }

    /// <summary>Domain of the CES REST API for text mode (<c>CES_API_DOMAIN</c>).</summary>
    [Required]
    public string CesApiDomain { get; set; } = "ces.googleapis.com";

    /// <summary>Base URL text-mode requests go to; empty means <c>https://{CesApiDomain}</c>.</summary>
    public string? TextApiBaseUrl { get; set; }

    /// <summary>Upstream URL template for <c>.../apps/...</c> sessions; <c>{location}</c> is replaced (<c>PS_ENDPOINT_TEMPLATE</c>).</summary>
    [Required]
    public string AppsEndpointTemplate { get; set; } = DefaultAppsEndpointTemplate;

    /// <summary>Upstream URL template for <c>.../agents/...</c> sessions (<c>PBL_ENDPOINT_TEMPLATE</c>).</summary>
    [Required]
    public string AgentsEndpointTemplate { get; set; } = DefaultAgentsEndpointTemplate;

    /// <summary>Per-environment templates for apps, by upper-case environment name (<c>PS_ENDPOINT_TEMPLATE_X</c>).</summary>
    public Dictionary<string, string> AppsEndpointTemplatesByEnvironment { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Per-environment templates for agents (<c>PBL_ENDPOINT_TEMPLATE_X</c>).</summary>
    public Dictionary<string, string> AgentsEndpointTemplatesByEnvironment { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How long a new connection may take to send its config message.</summary>
    public TimeSpan FirstMessageTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long connecting to the upstream may take.</summary>
    public TimeSpan UpstreamConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Interval of WebSocket pings on both legs; zero turns them off.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How long a ping may go unanswered before the leg counts as dead; zero waits forever.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>A connection with no message either way for this long is closed (1001); zero turns it off.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long one message may take to arrive once its first byte has, either way; a side that trickles slower is cut
    /// (a slow upstream as if it had vanished, a slow client with 1008). Zero turns it off.
    /// </summary>
    public TimeSpan MessageTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a closing side waits for the other side's close before it is aborted.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Largest message either side may send; a bigger one closes the connection with 1009.</summary>
    [Range(1_024, 256 * 1024 * 1024)]
    public int MaxMessageBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest config message; a bigger one closes the connection with 1009.</summary>
    [Range(256, 16 * 1024 * 1024)]
    public int MaxFirstMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Bytes of each text frame handed to the observer for recording; the size of the rest is still counted.</summary>
    [Range(0, 64 * 1024 * 1024)]
    public int RecordedPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>Timeout of a text-mode request to the CES API.</summary>
    public TimeSpan TextRequestTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
