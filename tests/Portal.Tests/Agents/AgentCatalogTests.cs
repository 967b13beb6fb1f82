using Portal.Agents.Configuration;

namespace Portal.Tests.Agents;

public sealed class AgentCatalogTests
{
    [Theory]
    [InlineData("gpt-4.1-mini", "openai")]
    [InlineData("o4-mini", "openai")]
    [InlineData("codex-mini-latest", "openai")]
    [InlineData("claude-sonnet-4-5", "anthropic")]
    [InlineData("Claude-3-5-Haiku", "anthropic")]
    [InlineData("gemini-2.5-pro", "google")]
    [InlineData("meta-llama/llama-3.1-70b-instruct", "openrouter")]
    [InlineData("llama3.2", "openai")]
    public void Detect_ProviderFromTheModelName(string model, string provider) =>
        Assert.Equal(provider, ProviderKinds.Detect(model));

    [Fact]
    public void Nothing_Configured_GivesNoProfile_SoTheOfflineAgentIsTheDefault()
    {
        var errors = new List<string>();

        Assert.Empty(AgentCatalog.Resolve(new AgentsOptions(), errors));
        Assert.Empty(errors);
    }

    [Fact]
    public void Default_NamingNoAgent_IsAnError_ListingTheAgents()
    {
        var errors = new List<string>();

        AgentCatalog.Resolve(new AgentsOptions { Default = "gtp-4o", Model = "gpt-4o", Keys = new ProviderKeys { OpenAI = "sk-x" } }, errors);

        var error = Assert.Single(errors);
        Assert.Contains("'gtp-4o' names no configured agent", error, StringComparison.Ordinal);
        Assert.Contains("gpt-4o, Offline agent", error, StringComparison.Ordinal);
    }

    [Fact]
    public void RealAgent_NamedLikeTheOfflineAgent_IsAnError()
    {
        var errors = new List<string>();

        AgentCatalog.Resolve(new AgentsOptions { Name = "offline AGENT", Model = "gpt-4o", Keys = new ProviderKeys { OpenAI = "sk-x" } }, errors);

        Assert.Contains("built-in offline agent's name", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void OnlyAKey_GivesThatProvidersAgent_WithADefaultModel()
    {
        var specs = AgentCatalog.Resolve(new AgentsOptions { Keys = new ProviderKeys { Anthropic = "sk-ant-x" } });

        var spec = Assert.Single(specs);
        Assert.Equal(("anthropic", "claude-sonnet-4-5", "sk-ant-x"), (spec.Provider, spec.Model, spec.ApiKey));
    }

    [Fact]
    public void ModelWithoutProvider_IsDetected_AndItsKeyIsRequired()
    {
        var errors = new List<string>();

        AgentCatalog.Resolve(new AgentsOptions { Model = "gemini-2.5-flash" }, errors);

        Assert.Contains(errors, e => e.Contains("GOOGLE_API_KEY", StringComparison.Ordinal));
    }

    [Fact]
    public void LocalOpenAiCompatibleServer_NeedsNoKey()
    {
        var errors = new List<string>();

        var spec = Assert.Single(AgentCatalog.Resolve(new AgentsOptions { Provider = "ollama", Model = "llama3.2", BaseUrl = "http://127.0.0.1:11434/v1" }, errors));

        Assert.Empty(errors);
        Assert.Equal(("openai", "llama3.2"), (spec.Provider, spec.Model));
    }

    [Fact]
    public void Profiles_SideBySide_InheritInstructions_AndBadOnesAreNamed()
    {
        var errors = new List<string>();
        var options = new AgentsOptions
        {
            Instructions = "Be brief.",
            Keys = new ProviderKeys { OpenAI = "sk-1", OpenRouter = "sk-or" },
            Profiles =
            [
                new AgentProfileOptions { Name = "Fast", Model = "gpt-4.1-mini", Temperature = 0.2 },
                new AgentProfileOptions { Name = "Router", Model = "mistralai/mistral-large" },
                new AgentProfileOptions { Name = "Broken", Provider = "acme", Model = "x" },
                new AgentProfileOptions { Name = "Hot", Model = "gpt-4.1", Temperature = 3 },
            ],
        };

        var specs = AgentCatalog.Resolve(options, errors);

        Assert.Equal(["Fast", "Router", "Hot"], specs.Select(s => s.Name));
        Assert.All(specs, s => Assert.Equal("Be brief.", s.Instructions));
        Assert.Equal(ProviderKinds.OpenRouterBaseUrl, specs[1].BaseUrl);
        Assert.Contains(errors, e => e.Contains("unknown provider 'acme'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("TEMPERATURE", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(nameof(AgentsOptions.MaxResponseDuration), "00:00:00")]
    [InlineData(nameof(AgentsOptions.MaxResponseDuration), "-00:00:01")]
    [InlineData(nameof(AgentsOptions.MaxResponseDuration), "50.00:00:00")]
    [InlineData(nameof(AgentsOptions.ProviderTimeout), "00:00:00")]
    [InlineData(nameof(AgentsOptions.ProviderTimeout), "50.00:00:00")]
    [InlineData(nameof(AgentsOptions.ShellTimeout), "-00:00:01")]
    public void Timers_NotPositiveOrBeyondATimersReach_AreAnErrorNamingThem(string name, string duration)
    {
        var options = new AgentsOptions();
        typeof(AgentsOptions).GetProperty(name)!.SetValue(options, TimeSpan.Parse(duration, System.Globalization.CultureInfo.InvariantCulture));

        var result = new AgentsOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains($"Portal:Agents:{name}", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void MaxResponseDuration_ByDefault_IsTenMinutesAndValid()
    {
        var options = new AgentsOptions();

        Assert.Equal(TimeSpan.FromMinutes(10), options.MaxResponseDuration);
        Assert.True(new AgentsOptionsValidator().Validate(null, options).Succeeded);
    }
}
