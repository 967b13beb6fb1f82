using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Portal.Sessions.Storage.Migrations;

/// <summary>
/// API tokens (<see cref="Security.Tokens.ApiTokenRow"/>): the SHA-256 of each token, never the token, with its owner,
/// scopes and times. Written by hand: the EF design-time package is missing here.
/// </summary>
[DbContext(typeof(PortalDbContext))]
[Migration("20261210000000_ApiTokens")]
public sealed class ApiTokens : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.CreateTable(
            name: "ApiTokens",
            columns: table => new
            {
                Id = table.Column<string>(type: "TEXT", maxLength: 12, nullable: false),
                UserId = table.Column<string>(type: "TEXT", maxLength: 450, nullable: false),
                Name = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                Scopes = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                SecretHash = table.Column<byte[]>(type: "BLOB", nullable: false),
                CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                ExpiresAt = table.Column<long>(type: "INTEGER", nullable: true),
                LastUsedAt = table.Column<long>(type: "INTEGER", nullable: true),
                RevokedAt = table.Column<long>(type: "INTEGER", nullable: true)
            },
            constraints: table =>
            {
                table.PrimaryKey("PK_ApiTokens", x => x.Id);
                table.ForeignKey(
                    name: "FK_ApiTokens_AspNetUsers_UserId",
                    column: x => x.UserId,
                    principalTable: "AspNetUsers",
                    principalColumn: "Id",
                    onDelete: ReferentialAction.Cascade);
            });

        migrationBuilder.CreateIndex(
            name: "IX_ApiTokens_UserId",
            table: "ApiTokens",
            column: "UserId");
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.DropTable(name: "ApiTokens");
    }
}
