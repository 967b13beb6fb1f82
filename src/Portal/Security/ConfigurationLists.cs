namespace Portal.Security;

/// <summary>
/// A list setting written either as an array (<c>Key:0</c>, <c>Key:1</c>, or a JSON array) or as one value separated
/// by <c>;</c> or <c>,</c>, which is what fits in an environment variable (<c>Portal__AllowedOrigins=https://a;https://b</c>).
/// </summary>
internal static class ConfigurationLists
{
    public static List<string> Read(IConfiguration configuration, string key)
    {
        var section = configuration.GetSection(key);
        var items = new List<string>();
        if (!string.IsNullOrWhiteSpace(section.Value))
        {
            items.AddRange(section.Value.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
        foreach (var child in section.GetChildren())
        {
            if (!string.IsNullOrWhiteSpace(child.Value))
            {
                items.Add(child.Value.Trim());
            }
        }
        return items;
    }
}
