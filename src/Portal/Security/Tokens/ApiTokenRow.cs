using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Portal.Sessions.Storage;

namespace Portal.Security.Tokens;

/// <summary>An API token as stored: its id (the visible part), a SHA-256 of the whole token, never the token itself.</summary>
public sealed class ApiTokenRow
{
    public string Id { get; set; } = "";
    public string UserId { get; set; } = "";
    public string Name { get; set; } = "";
    /// <summary>Space-separated <see cref="ApiScopes"/>.</summary>
    public string Scopes { get; set; } = "";
    public byte[] SecretHash { get; set; } = [];
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public DateTimeOffset? LastUsedAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
}

internal sealed class ApiTokenRowConfiguration : IEntityTypeConfiguration<ApiTokenRow>
{
    public void Configure(EntityTypeBuilder<ApiTokenRow> builder)
    {
        builder.ToTable("ApiTokens");
        builder.HasKey(t => t.Id);
        builder.Property(t => t.Id).HasMaxLength(ApiTokenSecret.IdLength).ValueGeneratedNever();
        builder.Property(t => t.UserId).HasMaxLength(450).IsRequired();
        builder.Property(t => t.Name).HasMaxLength(ApiTokenStore.MaxNameLength).IsRequired();
        builder.Property(t => t.Scopes).HasMaxLength(100).IsRequired();
        builder.Property(t => t.SecretHash).IsRequired();
        builder.Property(t => t.CreatedAt).HasConversion(UnixMillisecondsConverter.Instance);
        builder.Property(t => t.ExpiresAt).HasConversion(UnixMillisecondsConverter.Instance);
        builder.Property(t => t.LastUsedAt).HasConversion(UnixMillisecondsConverter.Instance);
        builder.Property(t => t.RevokedAt).HasConversion(UnixMillisecondsConverter.Instance);

        builder.HasIndex(t => t.UserId);
        // Deleting an account deletes its tokens.
        builder.HasOne<PortalUser>().WithMany().HasForeignKey(t => t.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
