using Google.Apis.Auth.OAuth2;
using Microsoft.Extensions.Options;
using Portal.Proxy.Configuration;

namespace Portal.Proxy.Authentication;

/// <summary>Mints a fresh token from one Google credential; caching is not its job.</summary>
internal interface ITokenMinter
{
    Task<AccessToken> MintAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Mints tokens with Google.Apis.Auth: from the configured service-account key file, or from Application Default
/// Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's user credentials, or the metadata server), with the
/// configured scopes. Each call asks the token endpoint for a new token and reports that token's own expiry.
/// </summary>
internal sealed class GoogleTokenMinter(IOptions<CesProxyOptions> options, TimeProvider time) : ITokenMinter, IDisposable
{
    private readonly SemaphoreSlim _loading = new(1, 1);
    private GoogleCredential? _credential;

    public async Task<AccessToken> MintAsync(CancellationToken cancellationToken)
    {
        var credential = await GetCredentialAsync(cancellationToken);
        var underlying = credential.UnderlyingCredential;
        Google.Apis.Auth.OAuth2.Responses.TokenResponse? token = null;
        switch (underlying)
        {
            case ServiceCredential service:
                if (!await service.RequestAccessTokenAsync(cancellationToken))
                {
                    throw new AccessTokenUnavailableException("The token endpoint returned no token.");
                }
                token = service.Token;
                break;
            case UserCredential user:
                if (!await user.RefreshTokenAsync(cancellationToken))
                {
                    throw new AccessTokenUnavailableException("The user credential could not be refreshed.");
                }
                token = user.Token;
                break;
        }
        if (token is not null)
        {
            return Checked(token.AccessToken, token.ExpiresInSeconds is { } seconds
                ? new DateTimeOffset(DateTime.SpecifyKind(token.IssuedUtc, DateTimeKind.Utc)).AddSeconds(seconds)
                : time.GetUtcNow().AddSeconds(options.Value.TokenTtlSeconds));
        }
        // Other credential kinds only hand out a token; its expiry is unknown, so the TTL alone bounds its reuse.
        var value = await ((ITokenAccess)credential).GetAccessTokenForRequestAsync(cancellationToken: cancellationToken);
        return Checked(value, time.GetUtcNow().AddSeconds(options.Value.TokenTtlSeconds));
    }

    public void Dispose() => _loading.Dispose();

    private static AccessToken Checked(string? value, DateTimeOffset expiresAt) =>
        string.IsNullOrWhiteSpace(value)
            ? throw new AccessTokenUnavailableException("The credential produced an empty access token.")
            : new AccessToken(value, expiresAt);

    private async Task<GoogleCredential> GetCredentialAsync(CancellationToken cancellationToken)
    {
        if (_credential is { } loaded)
        {
            return loaded;
        }
        await _loading.WaitAsync(cancellationToken);
        try
        {
            if (_credential is null)
            {
                var settings = ProxySettings.From(options.Value);
                var file = options.Value.CredentialsFile;
                GoogleCredential credential;
                try
                {
                    credential = string.IsNullOrWhiteSpace(file)
                        ? await GoogleCredential.GetApplicationDefaultAsync(cancellationToken)
                        : (await CredentialFactory.FromFileAsync<ServiceAccountCredential>(file, cancellationToken)).ToGoogleCredential();
                }
                catch (Exception ex) when (ex is InvalidOperationException or IOException or ArgumentException or Newtonsoft.Json.JsonException)
                {
                    throw new AccessTokenUnavailableException("No Google credentials are available: " + ex.Message, ex);
                }
                _credential = credential.CreateScoped(settings.OAuthScopes);
            }
            return _credential;
        }
        finally
        {
            _loading.Release();
        }
    }
}
