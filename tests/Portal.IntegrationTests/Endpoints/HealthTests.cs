using System.Net;
using System.Text.Json;
using Portal.Testing;

namespace Portal.IntegrationTests.Endpoints;

public sealed class HealthTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Health_WithoutSignIn_AnswersHealthy()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var client = server.CreateClient();

        using var response = await client.GetAsync("/health", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Ready_DatabaseReachable_ReportsTheDatabaseCheckHealthy()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var client = server.CreateClient();

        using var response = await client.GetAsync("/health/ready", Ct);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", body.RootElement.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
    }

    [Fact]
    public async Task Ready_DatabaseFileReplacedByGarbage_ReportsUnhealthy()
    {
        await using var server = await PortalTestServer.StartAsync();
        using var client = server.CreateClient();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var path = Path.Combine(server.Folder, "portal.db");
        File.Move(path, path + ".moved");
        Directory.CreateDirectory(path); // a folder where the file was: SQLite cannot open it

        using var response = await client.GetAsync("/health/ready", Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Directory.Delete(path);
        File.Move(path + ".moved", path);
    }
}
