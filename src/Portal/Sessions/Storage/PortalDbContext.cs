using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Portal.Security;
using Portal.Security.Tokens;

namespace Portal.Sessions.Storage;

/// <summary>One database for identity, API tokens and the session event log.</summary>
public sealed class PortalDbContext(DbContextOptions<PortalDbContext> options) : IdentityDbContext<PortalUser>(options)
{
    public DbSet<SessionRow> Sessions => Set<SessionRow>();
    public DbSet<SessionEventRow> SessionEvents => Set<SessionEventRow>();
    public DbSet<ApiTokenRow> ApiTokens => Set<ApiTokenRow>();

    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        builder.ApplyConfigurationsFromAssembly(typeof(PortalDbContext).Assembly);
    }
}
