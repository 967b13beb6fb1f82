using Portal.Sessions.Redaction;

namespace Portal.Tests.Sessions;

public sealed class PayloadRedactorTests
{
    [Theory]
    [InlineData("""{"config":{"accessToken":"ya29.secretvalue123","session":"s"}}""", "ya29.secretvalue123")]
    [InlineData("""{"headers":{"Authorization":"Bearer abc.def.ghi-jkl-mno"}}""", "abc.def.ghi-jkl-mno")]
    [InlineData("""{"api_key":"k-123456789"}""", "k-123456789")]
    [InlineData("""{"x-api-key":"anthropic-value-1"}""", "anthropic-value-1")]
    [InlineData("""{"apiKey":"AIzaSyA-1234567890abcdefghijklmnopqrstu"}""", "AIzaSyA-1234567890abcdefghijklmnopqrstu")]
    [InlineData("""{"deep":[{"more":{"refresh_token":"1//0gsecret"}}]}""", "1//0gsecret")]
    [InlineData("""{"client_secret":"GOCSPX-abcdef","password":"hunter22"}""", "GOCSPX-abcdef")]
    [InlineData("""{"headers":[["Authorization","Basic dXNlcjpwYXNz"]]}""", "dXNlcjpwYXNz")]
    public void Redact_SecretValuesUnderCredentialKeys_AreMasked(string payload, string secret)
    {
        var redacted = PayloadRedactor.Redact(payload);

        Assert.DoesNotContain(secret, redacted, StringComparison.Ordinal);
        Assert.Contains(PayloadRedactor.Mask, redacted, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"text":"call it with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"}""", "eyJhbGciOiJIUzI1NiJ9")]
    [InlineData("""{"text":"my key is sk-proj-abcdefghijklmnopqrstuvwxyz123456"}""", "sk-proj-abcdefghijklmnopqrstuvwxyz")]
    [InlineData("""{"text":"use sk-ant-api03-abcdefghijklmnopqrstuvwxyz"}""", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz")]
    [InlineData("""{"url":"https://generativelanguage.googleapis.com/v1/models?key=AIzaSyA-1234567890abcdefghijklmnopqrstu"}""", "AIzaSyA-1234567890")]
    [InlineData("""{"log":"token ya29.a0AfH6SMBxyzxyzxyz obtained"}""", "ya29.a0AfH6SMBxyzxyzxyz")]
    [InlineData("not json at all: Bearer abcdefghijklmnop1234", "abcdefghijklmnop1234")]
    public void Redact_TokenShapedTextAnywhere_IsMasked(string payload, string secret)
    {
        Assert.DoesNotContain(secret, PayloadRedactor.Redact(payload), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"text":"The token counting works; Basic authentication is off; keyboard and monkey keys."}""")]
    [InlineData("""{"type":"context_info","payload":{"tokenCount":1200,"maxTokens":4096}}""")]
    [InlineData("""{"realtimeInput":{"text":"hi!"}}""")]
    [InlineData("""{"text":"the bearer of bad news asked about a task-force"}""")]
    public void Redact_OrdinaryText_IsUnchanged(string payload)
    {
        Assert.Same(payload, PayloadRedactor.Redact(payload));
    }

    [Fact]
    public void Redact_AlreadyRedacted_IsStable()
    {
        var once = PayloadRedactor.Redact("""{"accessToken":"ya29.abcdefghijkl"}""");

        Assert.Equal(once, PayloadRedactor.Redact(once));
    }

    [Fact]
    public void Redact_KeepsEverythingElse()
    {
        var redacted = PayloadRedactor.Redact("""{"config":{"session":"projects/p/locations/l/apps/a/sessions/s","accessToken":"ya29.x1234567890","inputAudioConfig":{"sampleRateHertz":16000}}}""");

        Assert.Equal("""{"config":{"session":"projects/p/locations/l/apps/a/sessions/s","accessToken":"[redacted]","inputAudioConfig":{"sampleRateHertz":16000}}}""", redacted);
    }
}
