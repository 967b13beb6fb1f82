using Microsoft.Extensions.Options;

namespace Proxy.Tests.Configuration;

public sealed class OptionsTests
{
    [Theory]
    [InlineData("PS_ENDPOINT_TEMPLATE", "https://ces.googleapis.com/no-location")]
    [InlineData("PBL_ENDPOINT_TEMPLATE_STAGING", "wss://example.com/without-the-placeholder")]
    [InlineData("CesProxy:TextApiBaseUrl", "ftp://example.com")]
    public async Task BadSetting_StopsStartUpWithAMessageNamingIt(string key, string value)
    {
        // The test host sets the section's template; a bad alias is tried as the section value too.
        var settings = new Dictionary<string, string?> { [key] = value };
        if (key == "PS_ENDPOINT_TEMPLATE")
        {
            settings["CesProxy:AppsEndpointTemplate"] = value;
        }

        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => ProxyTestHost.StartAsync(settings));

        Assert.Contains("CesProxy", failure.Message, StringComparison.Ordinal);
        Assert.Contains("PS_ENDPOINT_TEMPLATE", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NonNumericTokenTtl_StopsStartUpNamingTheVariable()
    {
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => ProxyTestHost.StartAsync(new() { ["TOKEN_TTL"] = "five minutes" }));

        Assert.Contains("TOKEN_TTL", failure.Message, StringComparison.Ordinal);
    }
}
