using Microsoft.AspNetCore.Http.Features;
using Portal.Security.Tokens;

namespace Portal.Tests.Security;

public sealed class QueryTokenScrubbingTests
{
    [Theory]
    [InlineData("?access_token=ptl_x", "", "ptl_x")]
    [InlineData("?sessionId=abc&access_token=ptl_x&afterSeq=5", "?sessionId=abc&afterSeq=5", "ptl_x")]
    [InlineData("?access_token=ptl_x&id=7", "?id=7", "ptl_x")]
    [InlineData("?ACCESS_TOKEN=ptl_x", "", "ptl_x")]
    [InlineData("?access%5Ftoken=ptl_x", "", "ptl_x")]
    [InlineData("?access_token=ptl%5Fx", "", "ptl_x")]
    [InlineData("?access_token=one&access_token=two", "", "one")]
    [InlineData("?access_token", "", "")]
    public void Split_WithAnAccessToken_RemovesEveryOneAndReturnsTheFirst(string query, string kept, string token)
    {
        Assert.Equal((kept, token), QueryTokenScrubbing.Split(query));
    }

    [Theory]
    [InlineData("")]
    [InlineData("?agent=Claude")]
    [InlineData("?my_access_token=1")]
    public void Split_WithoutAnAccessToken_LeavesTheQueryAlone(string query)
    {
        Assert.Equal((query, (string?)null), QueryTokenScrubbing.Split(query));
    }

    [Fact]
    public void Scrub_ARequestWithAToken_RewritesTheQueryAndTheRawTargetAndKeepsTheToken()
    {
        var features = new FeatureCollection();
        var request = new HttpRequestFeature { Path = "/ws/agent", QueryString = "?agent=x&access_token=ptl_secret", RawTarget = "/ws/agent?agent=x&access_token=ptl_secret" };
        features.Set<IHttpRequestFeature>(request);

        QueryTokenScrubbing.Scrub(features);

        Assert.Equal("?agent=x", request.QueryString);
        Assert.Equal("/ws/agent?agent=x", request.RawTarget);
        Assert.Equal("ptl_secret", features.Get<QueryAccessTokenFeature>()?.Token);
    }

    [Fact]
    public void Scrub_TheNextRequestOnTheSameConnection_ForgetsTheLastToken()
    {
        var features = new FeatureCollection();
        features.Set<IHttpRequestFeature>(new HttpRequestFeature { QueryString = "?access_token=ptl_secret", RawTarget = "/?access_token=ptl_secret" });
        QueryTokenScrubbing.Scrub(features);
        features.Set<IHttpRequestFeature>(new HttpRequestFeature { QueryString = "", RawTarget = "/" });

        QueryTokenScrubbing.Scrub(features);

        Assert.Null(features.Get<QueryAccessTokenFeature>());
    }

    [Fact]
    public void Scrub_UnderTheCesProxy_LeavesTheQueryForTheUpstream()
    {
        var features = new FeatureCollection();
        var request = new HttpRequestFeature { Path = "/ces/v1/projects/p/sessions/s:runSession", QueryString = "?access_token=google", RawTarget = "/ces/v1/projects/p/sessions/s:runSession?access_token=google" };
        features.Set<IHttpRequestFeature>(request);

        QueryTokenScrubbing.Scrub(features);

        Assert.Equal("?access_token=google", request.QueryString);
        Assert.Null(features.Get<QueryAccessTokenFeature>());
    }
}
