using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Portal.Sessions.Storage;

namespace Portal.Security.Tokens;

/// <summary>A token as its owner sees it in the list: never its secret.</summary>
public sealed record ApiTokenInfo(
    string Id,
    string UserId,
    string Name,
    IReadOnlyList<string> Scopes,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? LastUsedAt,
    DateTimeOffset? RevokedAt)
{
    /// <summary>The token's visible start (<c>ptl_</c> and its id), enough to recognise it.</summary>
    public string Prefix => ApiTokenDefaults.Prefix + Id;

    public bool IsExpired(DateTimeOffset now) => ExpiresAt is { } expires && expires <= now;

    public bool IsActive(DateTimeOffset now) => RevokedAt is null && !IsExpired(now);
}

/// <summary>A token just created: <see cref="Token"/> is shown once and never again.</summary>
public sealed record NewApiToken(ApiTokenInfo Info, string Token);

/// <summary>What creating a token came to: the token, or why not.</summary>
public sealed record ApiTokenCreation(NewApiToken? Created, string? Error);

public enum ApiTokenRejection
{
    /// <summary>Not shaped like a Portal token, or no token has this id and secret.</summary>
    Unknown,
    Revoked,
    Expired,
    /// <summary>The owner's account is locked out.</summary>
    LockedOut,
}

/// <summary>The outcome of checking a presented token: its owner and scopes, or the reason it is refused.</summary>
public sealed record ApiTokenCheck(ApiTokenInfo? Token, ApiTokenRejection? Rejection);

/// <summary>API tokens: created and revoked by their owner, checked on every request that presents one.</summary>
public interface IApiTokenStore
{
    Task<ApiTokenCreation> CreateAsync(ClaimsPrincipal owner, string name, IReadOnlyCollection<string> scopes, DateTimeOffset? expiresAt, CancellationToken cancellationToken);

    /// <summary>The user's tokens, newest first, revoked ones included.</summary>
    Task<IReadOnlyList<ApiTokenInfo>> ListAsync(string userId, CancellationToken cancellationToken);

    /// <summary>Revokes one of the user's tokens at once; false when they have no such active token.</summary>
    Task<bool> RevokeAsync(string userId, string tokenId, CancellationToken cancellationToken);

    /// <summary>Checks a presented token (and notes its use).</summary>
    Task<ApiTokenCheck> CheckAsync(string token, CancellationToken cancellationToken);
}

internal sealed class ApiTokenStore(IDbContextFactory<PortalDbContext> dbFactory, TimeProvider time) : IApiTokenStore
{
    public const int MaxNameLength = 100;
    public const int MaxActiveTokensPerUser = 100;

    /// <summary>Last-used times are written at most this often per token, not on every request.</summary>
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    public async Task<ApiTokenCreation> CreateAsync(ClaimsPrincipal owner, string name, IReadOnlyCollection<string> scopes, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        var userId = owner.UserId();
        if (userId is null || owner.IsApiToken())
        {
            return new(null, "Sign in to create a token.");
        }
        name = name.Trim();
        if (name.Length is 0 or > MaxNameLength)
        {
            return new(null, $"Give the token a name of 1 to {MaxNameLength} characters.");
        }
        if (scopes.Count == 0 || scopes.Any(s => !ApiScopes.IsKnown(s)))
        {
            return new(null, $"Choose at least one scope: {string.Join(", ", ApiScopes.All)}.");
        }
        if (scopes.Contains(ApiScopes.Admin) && !owner.IsAdmin())
        {
            return new(null, "Only administrators can grant the admin scope.");
        }
        var now = time.GetUtcNow();
        if (expiresAt is { } expires && expires <= now)
        {
            return new(null, "The expiry must be in the future.");
        }
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var active = await db.ApiTokens.CountAsync(t => t.UserId == userId && t.RevokedAt == null, cancellationToken);
        if (active >= MaxActiveTokensPerUser)
        {
            return new(null, $"You have {active} tokens; revoke some before creating more.");
        }
        var (id, token) = ApiTokenSecret.Create();
        var row = new ApiTokenRow
        {
            Id = id,
            UserId = userId,
            Name = name,
            Scopes = string.Join(' ', ApiScopes.All.Where(scopes.Contains)),
            SecretHash = ApiTokenSecret.Hash(token),
            CreatedAt = now,
            ExpiresAt = expiresAt,
        };
        db.ApiTokens.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        return new(new NewApiToken(ToInfo(row), token), null);
    }

    public async Task<IReadOnlyList<ApiTokenInfo>> ListAsync(string userId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var rows = await db.ApiTokens.AsNoTracking().Where(t => t.UserId == userId).ToListAsync(cancellationToken);
        return [.. rows.OrderByDescending(t => t.CreatedAt).Select(ToInfo)];
    }

    public async Task<bool> RevokeAsync(string userId, string tokenId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = await db.ApiTokens.FirstOrDefaultAsync(t => t.Id == tokenId && t.UserId == userId && t.RevokedAt == null, cancellationToken);
        if (row is null)
        {
            return false;
        }
        row.RevokedAt = now;
        await db.SaveChangesAsync(cancellationToken);
        return true;
    }

    public async Task<ApiTokenCheck> CheckAsync(string token, CancellationToken cancellationToken)
    {
        if (ApiTokenSecret.IdOf(token) is not { } id)
        {
            return new(null, ApiTokenRejection.Unknown);
        }
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = await db.ApiTokens.AsNoTracking().FirstOrDefaultAsync(t => t.Id == id, cancellationToken);
        // The secret is checked before anything else is said about the token, so an id alone learns nothing.
        if (row is null || !ApiTokenSecret.Matches(token, row.SecretHash))
        {
            return new(null, ApiTokenRejection.Unknown);
        }
        var info = ToInfo(row);
        var now = time.GetUtcNow();
        if (row.RevokedAt is not null)
        {
            return new(info, ApiTokenRejection.Revoked);
        }
        if (info.IsExpired(now))
        {
            return new(info, ApiTokenRejection.Expired);
        }
        if (row.LastUsedAt is not { } used || now - used >= LastUsedResolution)
        {
            await db.ApiTokens.Where(t => t.Id == id).ExecuteUpdateAsync(s => s.SetProperty(t => t.LastUsedAt, now), cancellationToken);
            info = info with { LastUsedAt = now };
        }
        return new(info, null);
    }

    private static ApiTokenInfo ToInfo(ApiTokenRow row) => new(
        row.Id, row.UserId, row.Name, row.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries),
        row.CreatedAt, row.ExpiresAt, row.LastUsedAt, row.RevokedAt);
}
