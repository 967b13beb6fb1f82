using System.Globalization;
using Microsoft.Extensions.Options;
using Portal.Agents.Offline;
using Portal.Agents.Providers;

namespace Portal.Agents.Configuration;

/// <summary>An agent sessions can pick: a model behind a provider, with its instructions and sampling settings.</summary>
public sealed record AgentProfile(
    string Name,
    string Provider,
    string Model,
    string? Instructions,
    double? Temperature,
    int? MaxTokens,
    int MaxContextTokens,
    IModelProvider Client)
{
    public bool Offline => Provider == ProviderKinds.Offline;

    public override string ToString() => $"{Name} ({Provider}/{Model})";
}

public static class ProviderKinds
{
    public const string OpenAI = "openai";
    public const string Anthropic = "anthropic";
    public const string Google = "google";
    public const string OpenRouter = "openrouter";
    public const string Offline = "offline";

    public static readonly IReadOnlyList<string> All = [OpenAI, Anthropic, Google, OpenRouter, Offline];

    public static readonly Uri OpenRouterBaseUrl = new("https://openrouter.ai/api/v1/");

    /// <summary>The provider a model name implies, as the seed's <c>detectProvider</c> does: claude → anthropic, gemini → google, vendor/model → openrouter, else openai.</summary>
    public static string Detect(string model)
    {
        var name = model.Trim().ToLowerInvariant();
        return name switch
        {
            _ when name.Contains('/', StringComparison.Ordinal) => OpenRouter,
            _ when name.StartsWith("claude", StringComparison.Ordinal) => Anthropic,
            _ when name.StartsWith("gemini", StringComparison.Ordinal) || name.StartsWith("gemma", StringComparison.Ordinal) => Google,
            _ when name == "offline" => Offline,
            _ => OpenAI,
        };
    }

    public static string? Normalize(string? provider) => provider?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "openai" or "openai-compatible" or "ollama" or "vllm" or "lmstudio" or "lm-studio" => OpenAI,
        "anthropic" or "claude" => Anthropic,
        "google" or "gemini" => Google,
        "openrouter" => OpenRouter,
        "offline" or "builtin" or "built-in" => Offline,
        var other => other,
    };

    /// <summary>A model to use when only a key says which provider is wanted.</summary>
    public static string DefaultModel(string provider) => provider switch
    {
        Anthropic => "claude-sonnet-4-5",
        Google => "gemini-2.5-flash",
        OpenRouter => "openai/gpt-4o-mini",
        Offline => "offline",
        _ => "gpt-4.1-mini",
    };

    /// <summary>The environment variable holding the provider's key, for error messages.</summary>
    public static string KeyVariable(string provider) => provider switch
    {
        Anthropic => "ANTHROPIC_API_KEY",
        Google => "GOOGLE_API_KEY",
        OpenRouter => "OPENROUTER_API_KEY",
        _ => "OPENAI_API_KEY",
    };
}

/// <summary>
/// The agents this Portal offers, resolved once at start-up from <see cref="AgentsOptions"/>. The built-in offline
/// agent is always among them; with nothing configured it is the default.
/// </summary>
public sealed class AgentCatalog
{
    public const string OfflineName = OfflineModel.AgentName;

    private readonly Dictionary<string, AgentProfile> _byName;

    public AgentCatalog(IOptions<AgentsOptions> options, IHttpClientFactory httpClients, OfflineModel offline)
    {
        var settings = options.Value;
        var resolved = Resolve(settings);
        var profiles = new List<AgentProfile>();
        foreach (var spec in resolved)
        {
            var client = spec.Provider == ProviderKinds.Offline ? offline : CreateClient(spec, httpClients.CreateClient(spec.Provider));
            profiles.Add(new AgentProfile(spec.Name, spec.Provider, spec.Model, spec.Instructions, spec.Temperature, spec.MaxTokens,
                spec.MaxContextTokens ?? DefaultContext(spec.Provider), client));
        }
        if (!profiles.Any(p => p.Offline))
        {
            profiles.Add(new AgentProfile(OfflineName, ProviderKinds.Offline, "offline", settings.Instructions, null, null, 8_000, offline));
        }
        _byName = profiles.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        All = profiles;
        Default = settings.Default is { Length: > 0 } name && _byName.TryGetValue(name, out var chosen) ? chosen : profiles[0];
    }

    public IReadOnlyList<AgentProfile> All { get; }

    public AgentProfile Default { get; }

    /// <summary>True when no real model is configured: every session talks to the offline agent.</summary>
    public bool OfflineOnly => All.All(p => p.Offline);

    public AgentProfile? Find(string? name) => name is not null && _byName.TryGetValue(name, out var profile) ? profile : null;

    /// <summary>The named profile, or the default when the name is empty or unknown.</summary>
    public AgentProfile Resolve(string? name) => Find(name) ?? Default;

    internal sealed record ProfileSpec(string Name, string Provider, string Model, string? Instructions, double? Temperature, int? MaxTokens,
        Uri? BaseUrl, string? ApiKey, int? MaxContextTokens);

    /// <summary>
    /// Turns the options into profiles, or explains in <paramref name="errors"/> what is wrong (a provider chosen without
    /// its key names the variable to set).
    /// </summary>
    internal static List<ProfileSpec> Resolve(AgentsOptions options, List<string>? errors = null)
    {
        var specs = new List<ProfileSpec>();
        var primaryProvider = ProviderKinds.Normalize(options.Provider);
        var primaryModel = options.Model?.Trim();
        if (primaryProvider is null && string.IsNullOrEmpty(primaryModel) && options.Profiles.Count == 0)
        {
            // Only a key set (and no profiles that would use it): that provider, with a sensible model.
            primaryProvider = options.Keys switch
            {
                { OpenAI.Length: > 0 } => ProviderKinds.OpenAI,
                { Anthropic.Length: > 0 } => ProviderKinds.Anthropic,
                { Google.Length: > 0 } => ProviderKinds.Google,
                { OpenRouter.Length: > 0 } => ProviderKinds.OpenRouter,
                _ => null,
            };
        }
        if (primaryProvider is not null || !string.IsNullOrEmpty(primaryModel))
        {
            var provider = primaryProvider ?? ProviderKinds.Detect(primaryModel!);
            var model = string.IsNullOrEmpty(primaryModel) ? ProviderKinds.DefaultModel(provider) : primaryModel;
            Add(specs, errors, "primary agent (PROVIDER / MODEL)", options.Name ?? model, provider, model, options.Instructions,
                options.Temperature, options.MaxTokens, options.BaseUrl, null, options.MaxContextTokens, options.Keys);
        }
        for (var i = 0; i < options.Profiles.Count; i++)
        {
            var p = options.Profiles[i];
            var where = string.Create(CultureInfo.InvariantCulture, $"Portal:Agents:Profiles:{i}");
            if (string.IsNullOrWhiteSpace(p.Model) && ProviderKinds.Normalize(p.Provider) != ProviderKinds.Offline)
            {
                errors?.Add($"{where}: Model is required.");
                continue;
            }
            var provider = ProviderKinds.Normalize(p.Provider) ?? ProviderKinds.Detect(p.Model!);
            var model = p.Model?.Trim() is { Length: > 0 } m ? m : ProviderKinds.DefaultModel(provider);
            Add(specs, errors, where, p.Name ?? model, provider, model, p.Instructions ?? options.Instructions,
                p.Temperature ?? options.Temperature, p.MaxTokens ?? options.MaxTokens, p.BaseUrl, p.ApiKey, p.MaxContextTokens, options.Keys);
        }
        foreach (var duplicate in specs.GroupBy(s => s.Name, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
        {
            errors?.Add($"Two agents are named '{duplicate.Key}'; give each profile its own Name.");
        }
        if (!specs.Any(s => s.Provider == ProviderKinds.Offline) && specs.FirstOrDefault(s => s.Name.Equals(OfflineName, StringComparison.OrdinalIgnoreCase)) is { } taken)
        {
            errors?.Add($"'{taken.Name}' is the built-in offline agent's name; give the {taken.Provider} agent another Name.");
        }
        if (options.Default is { Length: > 0 } wanted && !wanted.Equals(OfflineName, StringComparison.OrdinalIgnoreCase)
            && !specs.Any(s => s.Name.Equals(wanted, StringComparison.OrdinalIgnoreCase)))
        {
            errors?.Add($"Portal:Agents:Default '{wanted}' names no configured agent. Agents: {string.Join(", ", specs.Select(s => s.Name).Append(OfflineName))}.");
        }
        return specs;
    }

    private static void Add(List<ProfileSpec> specs, List<string>? errors, string where, string name, string provider, string model,
        string? instructions, double? temperature, int? maxTokens, string? baseUrl, string? apiKey, int? maxContext, ProviderKeys keys)
    {
        if (!ProviderKinds.All.Contains(provider))
        {
            errors?.Add($"{where}: unknown provider '{provider}'. Use one of: {string.Join(", ", ProviderKinds.All)}.");
            return;
        }
        Uri? url = null;
        if (!string.IsNullOrWhiteSpace(baseUrl) && (!Uri.TryCreate(baseUrl.Trim(), UriKind.Absolute, out url) || url.Scheme is not ("http" or "https")))
        {
            errors?.Add($"{where}: BaseUrl '{baseUrl}' is not an http(s) URL.");
            return;
        }
        if (temperature is < 0 or > 2)
        {
            errors?.Add($"{where}: TEMPERATURE must be between 0 and 2.");
        }
        if (maxTokens is <= 0)
        {
            errors?.Add($"{where}: MAX_TOKENS must be positive.");
        }
        var key = apiKey ?? provider switch
        {
            ProviderKinds.OpenAI => keys.OpenAI,
            ProviderKinds.Anthropic => keys.Anthropic,
            ProviderKinds.Google => keys.Google,
            ProviderKinds.OpenRouter => keys.OpenRouter,
            _ => "",
        };
        // A local OpenAI-compatible server (Ollama, vLLM, LM Studio) needs no key; the public APIs do.
        var keyRequired = provider != ProviderKinds.Offline && !(provider == ProviderKinds.OpenAI && url is not null);
        if (keyRequired && string.IsNullOrWhiteSpace(key))
        {
            errors?.Add($"{where}: the {provider} provider needs an API key: set {ProviderKinds.KeyVariable(provider)} (or Portal:Agents:Keys:{KeySetting(provider)}).");
            return;
        }
        if (provider == ProviderKinds.OpenRouter)
        {
            url ??= ProviderKinds.OpenRouterBaseUrl;
        }
        specs.Add(new ProfileSpec(name.Trim(), provider, model, instructions, temperature, maxTokens, url, key, maxContext));
    }

    private static string KeySetting(string provider) => provider switch
    {
        ProviderKinds.Anthropic => "Anthropic",
        ProviderKinds.Google => "Google",
        ProviderKinds.OpenRouter => "OpenRouter",
        _ => "OpenAI",
    };

    private static int DefaultContext(string provider) => provider switch
    {
        ProviderKinds.Anthropic => 200_000,
        ProviderKinds.Google => 1_000_000,
        _ => 128_000,
    };

    private static IModelProvider CreateClient(ProfileSpec spec, HttpClient http)
    {
        var endpoint = new ProviderEndpoint(spec.ApiKey ?? "", spec.BaseUrl);
        return spec.Provider switch
        {
            ProviderKinds.Anthropic => new AnthropicProvider(endpoint, http),
            ProviderKinds.Google => new GeminiProvider(endpoint, http),
            _ => new OpenAiCompatibleProvider(endpoint, http),
        };
    }
}

/// <summary>Stops start-up when the agents are misconfigured, with every problem named.</summary>
internal sealed class AgentsOptionsValidator : IValidateOptions<AgentsOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentsOptions options)
    {
        var errors = new List<string>();
        AgentCatalog.Resolve(options, errors);
        if (!Approvals.ApprovalPolicies.TryParse(options.ApprovalPolicy, out _))
        {
            errors.Add($"Portal:Agents:ApprovalPolicy (APPROVAL_POLICY) '{options.ApprovalPolicy}' is not one of suggest, auto-edit, full-auto.");
        }
        if (options.ContextStrategy is not ("threshold" or "dummy"))
        {
            errors.Add($"CONTEXT_STRATEGY '{options.ContextStrategy}' is not one of threshold, dummy.");
        }
        if (options.CompactionThreshold is <= 0 or > 1)
        {
            errors.Add("CONTEXT_COMPACTION_THRESHOLD must be above 0 and at most 1.");
        }
        if (options.MaxHistory < 2)
        {
            errors.Add("MAX_HISTORY must be at least 2.");
        }
        if (options.ApprovalTimeout is { } timeout && timeout <= TimeSpan.Zero)
        {
            errors.Add("Portal:Agents:ApprovalTimeout must be positive.");
        }
        CheckTimer("MaxResponseDuration", options.MaxResponseDuration, errors);
        CheckTimer("ProviderTimeout", options.ProviderTimeout, errors);
        CheckTimer("ShellTimeout", options.ShellTimeout, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>
    /// A duration that becomes a timer (and, for <c>ProviderTimeout</c>, the provider client's timeout): positive, or the
    /// first request fails; at most 49 days, the most a CancellationTokenSource or an HttpClient takes (about 49.7).
    /// </summary>
    private static void CheckTimer(string name, TimeSpan value, List<string> errors)
    {
        if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(49))
        {
            errors.Add($"Portal:Agents:{name} ({value}) must be positive and at most 49 days.");
        }
    }
}
