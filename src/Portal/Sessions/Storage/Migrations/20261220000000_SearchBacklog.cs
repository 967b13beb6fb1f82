using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Portal.Sessions.Storage.Migrations;

/// <summary>
/// The full-text index's backlog (<see cref="Search.SessionSearch.Backlog"/>): text the writer stored under load, in the same
/// transaction as its event, for the full-text index to take in bulk a moment later. Rows are appended in order (the
/// rowid), so a commit touches the table's last page only. Not part of the EF model, like the index itself.
/// </summary>
[DbContext(typeof(PortalDbContext))]
[Migration("20261220000000_SearchBacklog")]
public sealed class SearchBacklog : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            CREATE TABLE "SearchBacklog" ("Id" INTEGER PRIMARY KEY, "Row" INTEGER NOT NULL, "Text" TEXT NOT NULL);
            """);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""
            INSERT INTO "SessionSearch"(rowid, "Text") SELECT "Row", "Text" FROM "SearchBacklog" ORDER BY "Id";
            DROP TABLE "SearchBacklog";
            """);
    }
}
