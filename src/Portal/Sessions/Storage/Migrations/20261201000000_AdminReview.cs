using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Portal.Sessions.Storage.Migrations;

/// <summary>
/// The admin's session grid and search: indexes for every filter and sort column, and the full-text index of titles
/// and message text (<see cref="Search.SessionSearch"/>), filled from the sessions and events already stored.
/// Written by hand: the EF design-time package is missing here.
/// </summary>
[DbContext(typeof(PortalDbContext))]
[Migration("20261201000000_AdminReview")]
public sealed class AdminReview : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.DropIndex(name: "IX_Sessions_Status", table: "Sessions");
        migrationBuilder.DropIndex(name: "IX_Sessions_LastActivityAt", table: "Sessions");

        migrationBuilder.CreateIndex(name: "IX_Sessions_LastActivityAt_CreatedAt", table: "Sessions", columns: new[] { "LastActivityAt", "CreatedAt" });
        migrationBuilder.CreateIndex(name: "IX_Sessions_Kind_Status_LastActivityAt", table: "Sessions", columns: new[] { "Kind", "Status", "LastActivityAt" });
        migrationBuilder.CreateIndex(name: "IX_Sessions_Status_LastActivityAt", table: "Sessions", columns: new[] { "Status", "LastActivityAt" });
        migrationBuilder.CreateIndex(name: "IX_Sessions_Agent_LastActivityAt", table: "Sessions", columns: new[] { "Agent", "LastActivityAt" });
        migrationBuilder.CreateIndex(name: "IX_Sessions_CreatedAt", table: "Sessions", column: "CreatedAt");
        migrationBuilder.CreateIndex(name: "IX_Sessions_Title", table: "Sessions", column: "Title");
        migrationBuilder.CreateIndex(name: "IX_Sessions_EventCount", table: "Sessions", column: "EventCount");

        // Contentless (the text stays in the events only); contentless_delete lets a session's rows be deleted by
        // rowid range. EF Core cannot describe virtual tables, hence SQL; the table is not part of the model.
        migrationBuilder.Sql("""
            CREATE VIRTUAL TABLE "SessionSearch" USING fts5(
                "Text", content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2');
            """);

        // What SessionSearch.TextOf indexes for new events, for the ones already stored.
        migrationBuilder.Sql("""
            INSERT INTO "SessionSearch"(rowid, "Text")
            SELECT "Key" << 32, "Title" FROM "Sessions" WHERE trim(coalesce("Title", '')) <> '';
            """);
        migrationBuilder.Sql("""
            WITH candidates AS MATERIALIZED (
                SELECT "SessionKey", "Seq", "Type", "Direction", "Payload" FROM "SessionEvents"
                WHERE "Seq" <= 4294967295 AND json_valid("Payload") AND (
                       ("Type" = 'user_input' AND "Direction" = 'in')
                    OR ("Type" = 'response_item' AND json_extract("Payload", '$.type') = 'message' AND json_extract("Payload", '$.role') = 'assistant')
                    OR ("Type" = 'query' AND "Direction" = 'in')
                    OR ("Type" = 'response' AND "Direction" = 'out')
                    OR ("Type" = 'proxy_frame' AND instr("Payload", '"text"') > 0)))
            INSERT INTO "SessionSearch"(rowid, "Text")
            SELECT (e."SessionKey" << 32) | e."Seq", substr(group_concat(j.value, char(10)), 1, 16384)
            FROM candidates e JOIN json_tree(e."Payload") j
            WHERE j.type = 'text' AND (
                   (e."Type" = 'user_input' AND j.key IN ('text', 'content', 'input'))
                OR (e."Type" IN ('response_item', 'proxy_frame') AND j.key = 'text')
                OR (e."Type" IN ('query', 'response') AND j.key = 'content'))
            GROUP BY e."SessionKey", e."Seq"
            HAVING trim(group_concat(j.value, '')) <> '';
            """);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.Sql("""DROP TABLE "SessionSearch";""");
        migrationBuilder.DropIndex(name: "IX_Sessions_EventCount", table: "Sessions");
        migrationBuilder.DropIndex(name: "IX_Sessions_Title", table: "Sessions");
        migrationBuilder.DropIndex(name: "IX_Sessions_CreatedAt", table: "Sessions");
        migrationBuilder.DropIndex(name: "IX_Sessions_Agent_LastActivityAt", table: "Sessions");
        migrationBuilder.DropIndex(name: "IX_Sessions_Status_LastActivityAt", table: "Sessions");
        migrationBuilder.DropIndex(name: "IX_Sessions_Kind_Status_LastActivityAt", table: "Sessions");
        migrationBuilder.DropIndex(name: "IX_Sessions_LastActivityAt_CreatedAt", table: "Sessions");
        migrationBuilder.CreateIndex(name: "IX_Sessions_Status", table: "Sessions", column: "Status");
        migrationBuilder.CreateIndex(name: "IX_Sessions_LastActivityAt", table: "Sessions", column: "LastActivityAt");
    }
}
