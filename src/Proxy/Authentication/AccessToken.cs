namespace Portal.Proxy.Authentication;

/// <summary>An OAuth access token and the moment it stops being valid.</summary>
/// <param name="Value">The bearer token; never empty.</param>
/// <param name="ExpiresAt">When the token expires.</param>
public sealed record AccessToken(string Value, DateTimeOffset ExpiresAt)
{
    /// <summary>The token, hidden: records print their members, and a token must never reach a log.</summary>
    public override string ToString() => $"AccessToken(expires {ExpiresAt:O})";
}

/// <summary>Supplies the access token the proxy adds to upstream requests when the client brings none.</summary>
public interface IAccessTokenSource
{
    /// <summary>A valid, unexpired token; throws <see cref="AccessTokenUnavailableException"/> when none can be had.</summary>
    ValueTask<AccessToken> GetAccessTokenAsync(CancellationToken cancellationToken);
}

/// <summary>No token could be obtained: the connection is refused as an authentication failure.</summary>
public sealed class AccessTokenUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
