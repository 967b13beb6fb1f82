namespace Portal.Agents.Providers;

/// <summary>Where a provider is reached and with which key. A null base URL means the provider's public API.</summary>
public sealed record ProviderEndpoint(string ApiKey, Uri? BaseUrl)
{
    /// <summary>The key, hidden: records print their members, and a key must never reach a log.</summary>
    public override string ToString() => $"ProviderEndpoint({BaseUrl?.ToString() ?? "default"})";
}
