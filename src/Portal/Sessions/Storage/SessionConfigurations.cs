using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace Portal.Sessions.Storage;

internal sealed class SessionRowConfiguration : IEntityTypeConfiguration<SessionRow>
{
    public void Configure(EntityTypeBuilder<SessionRow> builder)
    {
        builder.ToTable("Sessions");
        builder.HasKey(s => s.Key);
        builder.Property(s => s.Key).ValueGeneratedOnAdd();
        builder.Property(s => s.Id).HasMaxLength(64).IsRequired();
        builder.Property(s => s.Kind).HasMaxLength(16);
        builder.Property(s => s.OwnerId).HasMaxLength(450);
        builder.Property(s => s.Title).HasMaxLength(200);
        builder.Property(s => s.Agent).HasMaxLength(100);
        builder.Property(s => s.Status).HasMaxLength(16);
        builder.Property(s => s.CreatedAt).HasConversion(UnixMillisecondsConverter.Instance);
        builder.Property(s => s.LastActivityAt).HasConversion(UnixMillisecondsConverter.Instance);

        builder.HasIndex(s => s.Id).IsUnique();
        // The admin grid filters on kind, status, owner and agent, newest activity first, and sorts on any column.
        // CreatedAt rides along so a date range (active since, created before) is answered from the index alone.
        builder.HasIndex(s => new { s.LastActivityAt, s.CreatedAt });
        builder.HasIndex(s => new { s.OwnerId, s.LastActivityAt });
        builder.HasIndex(s => new { s.Kind, s.LastActivityAt });
        builder.HasIndex(s => new { s.Kind, s.Status, s.LastActivityAt });
        builder.HasIndex(s => new { s.Status, s.LastActivityAt });
        builder.HasIndex(s => new { s.Agent, s.LastActivityAt });
        builder.HasIndex(s => s.CreatedAt);
        builder.HasIndex(s => s.Title);
        builder.HasIndex(s => s.EventCount);
    }
}

internal sealed class SessionEventRowConfiguration : IEntityTypeConfiguration<SessionEventRow>
{
    public void Configure(EntityTypeBuilder<SessionEventRow> builder)
    {
        builder.ToTable("SessionEvents");
        builder.HasKey(e => new { e.SessionKey, e.Seq });
        builder.Property(e => e.SessionKey).ValueGeneratedNever();
        builder.Property(e => e.Seq).ValueGeneratedNever();
        builder.Property(e => e.Time).HasConversion(UnixMillisecondsConverter.Instance);
        builder.Property(e => e.Direction).HasMaxLength(8);
        builder.Property(e => e.Type).HasMaxLength(64);
        builder.Property(e => e.Actor).HasMaxLength(16);

        builder.HasOne<SessionRow>().WithMany().HasForeignKey(e => e.SessionKey).OnDelete(DeleteBehavior.Cascade);
    }
}

/// <summary>Times are stored as Unix milliseconds: compact, sortable, and comparable in SQL.</summary>
internal sealed class UnixMillisecondsConverter() : ValueConverter<DateTimeOffset, long>(
    v => v.ToUnixTimeMilliseconds(),
    v => DateTimeOffset.FromUnixTimeMilliseconds(v))
{
    public static readonly UnixMillisecondsConverter Instance = new();
}
