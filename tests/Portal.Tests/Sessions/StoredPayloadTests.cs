using System.Text.Json;
using Portal.Sessions;

namespace Portal.Tests.Sessions;

public sealed class StoredPayloadTests
{
    [Fact]
    public void Limit_SmallPayload_IsKeptAsIs()
    {
        const string payload = """{"a":1}""";

        Assert.Same(payload, StoredPayload.Limit(payload, 1024));
    }

    [Fact]
    public void Limit_OversizedPayload_BecomesAPreviewWithTheOriginalSize()
    {
        var payload = JsonSerializer.Serialize(new { text = new string('x', 10_000) });

        var stored = StoredPayload.Limit(payload, 1024);

        using var doc = JsonDocument.Parse(stored);
        Assert.True(doc.RootElement.GetProperty("truncated").GetBoolean());
        Assert.Equal(payload.Length, doc.RootElement.GetProperty("originalBytes").GetInt32());
        Assert.StartsWith("{\"text\":\"xxx", doc.RootElement.GetProperty("preview").GetString(), StringComparison.Ordinal);
        Assert.True(stored.Length < 4_000);
    }
}
