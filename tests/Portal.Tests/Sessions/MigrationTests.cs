using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Migrations.Operations;
using Microsoft.Extensions.DependencyInjection;
using Portal.Sessions.Storage;

namespace Portal.Tests.Sessions;

public sealed class MigrationTests
{
    [Fact]
    public void HandWrittenMigrations_MatchTheModel_NoPendingChanges()
    {
        using var db = NewContext();
        var differences = Differences(db);
        Assert.True(differences.Count == 0, "The model differs from the migrations' snapshot:\n" + string.Join("\n", differences));
        Assert.False(db.Database.HasPendingModelChanges());
    }

    [Fact]
    public async Task Migrate_OnAnEmptyFile_CreatesEveryTable()
    {
        var folder = Directory.CreateTempSubdirectory("portal-migrate-");
        try
        {
            var options = new DbContextOptionsBuilder<PortalDbContext>()
                .UseSqlite($"Data Source={Path.Combine(folder.FullName, "portal.db")};Pooling=False").Options;
            await using var db = new PortalDbContext(options);
            await db.Database.MigrateAsync(TestContext.Current.CancellationToken);
            var tables = await db.Database.SqlQueryRaw<string>("SELECT name AS Value FROM sqlite_master WHERE type = 'table'")
                .ToListAsync(TestContext.Current.CancellationToken);
            Assert.Contains("Sessions", tables);
            Assert.Contains("SessionEvents", tables);
            Assert.Contains("AspNetUsers", tables);
            Assert.Contains("ApiTokens", tables);
            Assert.Empty(await db.Database.GetPendingMigrationsAsync(TestContext.Current.CancellationToken));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static PortalDbContext NewContext() =>
        new(new DbContextOptionsBuilder<PortalDbContext>().UseSqlite("Data Source=:memory:").Options);

    private static List<string> Differences(PortalDbContext db)
    {
        var migrations = db.GetService<IMigrationsAssembly>();
        var snapshot = migrations.ModelSnapshot ?? throw new InvalidOperationException("No model snapshot.");
        var initializer = db.GetService<IModelRuntimeInitializer>();
        var snapshotModel = initializer.Initialize(((IMutableModel)snapshot.Model).FinalizeModel(), validationLogger: null);
        var differ = db.GetService<IMigrationsModelDiffer>();
        return differ.GetDifferences(snapshotModel.GetRelationalModel(), db.GetService<IDesignTimeModel>().Model.GetRelationalModel())
            .Select(o => o.GetType().Name + " " + Describe(o))
            .ToList();
    }

    private static string Column(ColumnOperation c) =>
        $"{c.ClrType.Name} {c.ColumnType} null={c.IsNullable} max={c.MaxLength} unicode={c.IsUnicode} fixed={c.IsFixedLength} collation={c.Collation} default={c.DefaultValue ?? c.DefaultValueSql} computed={c.ComputedColumnSql}";

    private static string Describe(MigrationOperation operation) => operation switch
    {
        AlterColumnOperation a => $"{a.Table}.{a.Name}: {Column(a.OldColumn)} -> {Column(a)}",
        ColumnOperation c => $"{c.Table}.{c.Name}",
        TableOperation t => t.Name,
        CreateIndexOperation i => $"{i.Table}.{i.Name}",
        DropIndexOperation i => $"{i.Table}.{i.Name}",
        _ => operation.ToString() ?? "",
    };
}
