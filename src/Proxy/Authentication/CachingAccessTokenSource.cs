using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Portal.Proxy.Configuration;

namespace Portal.Proxy.Authentication;

/// <summary>
/// Hands out a minted token for <c>TOKEN_TTL</c> seconds, never past the token's own expiry (less a minute of
/// margin), and mints at most one at a time: every connection that needs a token while one is being minted waits
/// for that one. A failed mint fails its waiters and leaves nothing cached, so no stale or empty token is ever
/// used.
/// </summary>
internal sealed partial class CachingAccessTokenSource(
    ITokenMinter minter,
    IOptions<CesProxyOptions> options,
    TimeProvider time,
    ILogger<CachingAccessTokenSource> logger) : IAccessTokenSource
{
    /// <summary>A token is not handed out in the last minute of its life: the connection using it needs time too.</summary>
    internal static readonly TimeSpan ExpiryMargin = TimeSpan.FromMinutes(1);

    private readonly Lock _gate = new();
    private (AccessToken Token, DateTimeOffset UseUntil)? _cached;
    private Task<AccessToken>? _minting;

    public async ValueTask<AccessToken> GetAccessTokenAsync(CancellationToken cancellationToken)
    {
        Task<AccessToken> minting;
        lock (_gate)
        {
            if (_cached is { } cached && time.GetUtcNow() < cached.UseUntil)
            {
                return cached.Token;
            }
            // The mint is shared: it must not be cancelled because the connection that started it went away.
            minting = _minting ??= MintAsync();
        }
        return await minting.WaitAsync(cancellationToken);
    }

    private async Task<AccessToken> MintAsync()
    {
        await Task.Yield();
        try
        {
            var token = await minter.MintAsync(CancellationToken.None);
            var now = time.GetUtcNow();
            var useUntil = Min(now.AddSeconds(options.Value.TokenTtlSeconds), token.ExpiresAt - ExpiryMargin);
            if (useUntil <= now)
            {
                throw new AccessTokenUnavailableException("The minted token expires too soon to be used.");
            }
            lock (_gate)
            {
                _cached = (token, useUntil);
                _minting = null;
            }
            Log.Minted(logger, token.ExpiresAt, useUntil);
            return token;
        }
        catch (Exception ex)
        {
            lock (_gate)
            {
                _cached = null;
                _minting = null;
            }
            Log.MintFailed(logger, ex);
            throw ex as AccessTokenUnavailableException ?? new AccessTokenUnavailableException("Minting an access token failed: " + ex.Message, ex);
        }
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Minted an access token expiring at {ExpiresAt:O}; reused until {UseUntil:O}")]
        public static partial void Minted(ILogger logger, DateTimeOffset expiresAt, DateTimeOffset useUntil);

        [LoggerMessage(2, LogLevel.Error, "Minting an access token failed; connections without their own token are refused")]
        public static partial void MintFailed(ILogger logger, Exception exception);
    }
}
