namespace Portal.Agents.Configuration;

/// <summary>
/// <c>Portal:Agents</c>: the agents sessions can talk to and how the loop runs. The top-level Provider/Model/...
/// describe the primary agent (the seed's <c>PROVIDER</c>, <c>MODEL</c>, <c>INSTRUCTIONS</c>... variables map here);
/// <see cref="Profiles"/> adds more, side by side, picked per session.
/// </summary>
public sealed class AgentsOptions
{
    public const string Section = "Portal:Agents";

    /// <summary>The profile new sessions use when none is picked; default the primary agent, else the first profile, else the offline agent.</summary>
    public string? Default { get; set; }

    /// <summary>Name of the primary agent; default its model name.</summary>
    public string? Name { get; set; }
    /// <summary>openai, anthropic, google, openrouter, offline; detected from <see cref="Model"/> when unset.</summary>
    public string? Provider { get; set; }
    public string? Model { get; set; }
    public string? Instructions { get; set; }
    public double? Temperature { get; set; }
    public int? MaxTokens { get; set; }
    /// <summary>For OpenAI-compatible servers (Ollama, vLLM, LM Studio): their <c>/v1</c> base URL.</summary>
    public string? BaseUrl { get; set; }
    public int? MaxContextTokens { get; set; }

    public List<AgentProfileOptions> Profiles { get; set; } = [];

    /// <summary>Provider keys; the environment's <c>OPENAI_API_KEY</c>, <c>ANTHROPIC_API_KEY</c>, <c>GOOGLE_API_KEY</c>, <c>OPENROUTER_API_KEY</c> map here.</summary>
    public ProviderKeys Keys { get; set; } = new();

    /// <summary>suggest, auto-edit or full-auto.</summary>
    public string ApprovalPolicy { get; set; } = "suggest";

    /// <summary>When set, an approval nobody answers within this time is denied and the turn ends.</summary>
    public TimeSpan? ApprovalTimeout { get; set; }

    /// <summary>
    /// The folder tools work in. Unset, each user gets their own folder under <c>data/workspaces/</c>, so agents of
    /// different users never see each other's files (nor Portal's database or <c>.env</c>).
    /// </summary>
    public string? WorkingDirectory { get; set; }

    /// <summary>threshold (summarise older turns past <see cref="CompactionThreshold"/> of the context) or dummy (drop them).</summary>
    public string ContextStrategy { get; set; } = "threshold";
    public double CompactionThreshold { get; set; } = 0.8;
    /// <summary>Most messages sent to the model per request (the seed's <c>MAX_HISTORY</c>).</summary>
    public int MaxHistory { get; set; } = 50;
    /// <summary>User turns compaction keeps whole.</summary>
    public int KeepTurns { get; set; } = 2;

    /// <summary>Model calls per turn before the loop gives up.</summary>
    public int MaxSteps { get; set; } = 50;
    public TimeSpan ShellTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Retries of a provider request that failed before anything streamed (rate limit, 5xx, timeout).</summary>
    public int MaxRetries { get; set; } = 3;
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>Longest wait for a provider's first byte, and between two streamed chunks.</summary>
    public TimeSpan ProviderTimeout { get; set; } = TimeSpan.FromSeconds(120);
    /// <summary>Longest time one provider response may take, from the request to the end of its stream.</summary>
    public TimeSpan MaxResponseDuration { get; set; } = TimeSpan.FromMinutes(10);
}

public sealed class AgentProfileOptions
{
    public string? Name { get; set; }
    public string? Provider { get; set; }
    public string? Model { get; set; }
    public string? Instructions { get; set; }
    public double? Temperature { get; set; }
    public int? MaxTokens { get; set; }
    public string? BaseUrl { get; set; }
    /// <summary>A key for this profile only; default the provider's key from <see cref="AgentsOptions.Keys"/>.</summary>
    public string? ApiKey { get; set; }
    public int? MaxContextTokens { get; set; }
}

public sealed class ProviderKeys
{
    public string? OpenAI { get; set; }
    public string? Anthropic { get; set; }
    public string? Google { get; set; }
    public string? OpenRouter { get; set; }

    public override string ToString() => "ProviderKeys(hidden)";
}
