using System.Diagnostics;
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
        using var portal = StartPortal(folder);
        try
        {
            var link = await ReadSetupLinkAsync(portal);
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
            portal.Kill(entireProcessTree: true);
            await portal.WaitForExitAsync(CancellationToken.None);
            Directory.Delete(folder, recursive: true);
        }
    }

    private static Process StartPortal(string workingDirectory)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Portal.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add("http://127.0.0.1:0");
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("Portal__", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        return Process.Start(start) ?? throw new InvalidOperationException("Portal did not start.");
    }

    private static async Task<string> ReadSetupLinkAsync(Process portal)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var seen = new List<string>();
        while (await portal.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            seen.Add(line);
            if (SetupLink().Match(line) is { Success: true } match)
            {
                return match.Value;
            }
        }
        throw new InvalidOperationException("No setup link was printed:\n" + string.Join("\n", seen) + await portal.StandardError.ReadToEndAsync(Ct));
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/setup\?token=[0-9a-f]{48}")]
    private static partial Regex SetupLink();
}
