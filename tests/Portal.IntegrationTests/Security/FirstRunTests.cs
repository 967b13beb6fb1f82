using System.Net;
using System.Text.RegularExpressions;
using Portal.Testing;

namespace Portal.IntegrationTests.Security;

/// <summary>Runs the real Portal binary in an empty folder, the way the README's run command does.</summary>
public sealed partial class FirstRunTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FirstStart_WithNoAdmin_CreatesTheDatabaseAndPrintsASetupLinkThatWorksOnce()
    {
        var folder = Directory.CreateTempSubdirectory("portal-firstrun-").FullName;
        // No administrator, and none of the Portal__* settings this test run may have inherited: a first start as the README runs it.
        await using var portal = PortalProcess.Start(new PortalProcessOptions { Folder = folder, WithoutInheritedSettings = true });
        try
        {
            var link = await portal.WaitForOutputAsync(SetupLink(), TimeSpan.FromSeconds(60), Ct);
            Assert.True(File.Exists(Path.Combine(folder, "data", "portal.db")), "data/portal.db is created in the working directory");

            using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() });
            var page = await client.GetStringAsync(link, Ct);
            Assert.Contains("Create the administrator", page, StringComparison.Ordinal);
            using var created = await client.PostAsync(link, new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["_handler"] = "setup",
                ["__RequestVerificationToken"] = PortalTestServer.AntiforgeryToken(page),
                ["token"] = new Uri(link).Query.Split('=')[1],
                ["Input.Email"] = "root@portal.test",
                ["Input.Password"] = PortalTestServer.Password,
                ["Input.ConfirmPassword"] = PortalTestServer.Password,
            }), Ct);
            Assert.Equal(HttpStatusCode.Redirect, created.StatusCode);

            using var sessions = await client.GetAsync(new Uri(new Uri(link), "/api/sessions"), Ct);
            Assert.Equal(HttpStatusCode.OK, sessions.StatusCode);
            var again = await new HttpClient().GetStringAsync(link, Ct);
            Assert.Contains("already set up", again, StringComparison.Ordinal);
        }
        finally
        {
            await portal.KillAsync();
            Directory.Delete(folder, recursive: true);
        }
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/setup\?token=[0-9a-f]{48}")]
    private static partial Regex SetupLink();
}
