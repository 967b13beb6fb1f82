using Microsoft.Extensions.Options;
using Portal.Testing;
using Portal.Testing.Fakes;

namespace Portal.IntegrationTests.Agents;

/// <summary>
/// The whole loop over <c>/ws/agent</c> against each provider's fake server (OpenAI, Anthropic, Gemini wire formats):
/// a streamed tool call, its approval, the tool run, and its result carried back in that provider's format.
/// Also: several agents side by side, picked per session, and start-up refused when a provider has no key.
/// </summary>
public sealed class AgentProvidersLoopTests
{
    [Theory]
    [InlineData("openai")]
    [InlineData("anthropic")]
    [InlineData("google")]
    public async Task ToolCallLoop_WorksThroughEachProvider(string provider)
    {
        await using FakeModelServer model = provider switch
        {
            "anthropic" => await FakeAnthropicServer.StartAsync(),
            "google" => await FakeGeminiServer.StartAsync(),
            _ => await FakeOpenAiServer.StartAsync(),
        };
        var workspace = Directory.CreateTempSubdirectory("portal-loop-").FullName;
        model.Enqueue(ModelScript.ToolCall("call_7", "shell", new { command = new[] { "touch", "from-" + provider + ".txt" } }, "On it."),
            ModelScript.Text("Made", " it."));
        await using var portal = await PortalTestServer.StartAsync(new()
        {
            ["Portal:Agents:Profiles:0:Name"] = "First",
            ["Portal:Agents:Profiles:0:Provider"] = "openai",
            ["Portal:Agents:Profiles:0:Model"] = "unused",
            ["Portal:Agents:Profiles:0:BaseUrl"] = "http://127.0.0.1:9/v1",
            ["Portal:Agents:Profiles:1:Name"] = "Under test",
            ["Portal:Agents:Profiles:1:Provider"] = provider,
            ["Portal:Agents:Profiles:1:Model"] = provider == "google" ? "gemini-test" : provider == "anthropic" ? "claude-test" : "gpt-test",
            ["Portal:Agents:Profiles:1:BaseUrl"] = provider == "openai" ? new Uri(model.BaseAddress, "/v1").ToString() : model.BaseAddress.ToString(),
            ["Portal:Agents:Profiles:1:ApiKey"] = "test-key-0123456789",
            ["Portal:Agents:WorkingDirectory"] = workspace,
        });
        var cookies = await AgentSocketClient.SignInAsync(portal, PortalTestServer.AdminEmail);
        await using var client = await AgentSocketClient.ConnectAsync(portal, cookies, "agent=Under%20test");
        Assert.Equal(("Under test", provider), (client.Received[0].Text("agent"), client.Received[0].Text("provider")));

        await client.SendInputAsync("make the file");
        var request = await client.WaitForAsync("approval_request");
        await client.SendAsync("approval_response", new { review = "yes", callId = request.Text("callId") });
        var finished = await client.WaitForAsync("agent_finished");

        Assert.Equal("completed", finished.Text("status"));
        Assert.Equal("On it.Made it.", client.Deltas());
        Assert.True(File.Exists(Path.Combine(workspace, "from-" + provider + ".txt")));
        Assert.Equal(2, model.Requests.Count);
        var second = model.Requests.ToArray()[1].Body.ToString();
        Assert.Contains("call_7", second, StringComparison.Ordinal);
        Assert.Contains("exit_code", second, StringComparison.Ordinal);
        Directory.Delete(workspace, recursive: true);
    }

    [Theory]
    [InlineData("anthropic", "ANTHROPIC_API_KEY")]
    [InlineData("google", "GOOGLE_API_KEY")]
    [InlineData("openrouter", "OPENROUTER_API_KEY")]
    [InlineData("openai", "OPENAI_API_KEY")]
    public async Task ProviderWithoutItsKey_StopsStartUp_NamingTheVariable(string provider, string variable)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            PortalTestServer.StartAsync(new() { ["Portal:Agents:Provider"] = provider }));

        Assert.Contains(variable, error.Message, StringComparison.Ordinal);
    }
}
