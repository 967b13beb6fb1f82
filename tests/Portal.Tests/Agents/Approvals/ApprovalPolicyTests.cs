using Portal.Agents.Approvals;

namespace Portal.Tests.Agents.Approvals;

public sealed class ApprovalPolicyTests
{
    [Theory]
    [InlineData("suggest", ApprovalPolicy.Suggest)]
    [InlineData("SUGGEST", ApprovalPolicy.Suggest)]
    [InlineData("auto-edit", ApprovalPolicy.AutoEdit)]
    [InlineData("AUTO_EDIT", ApprovalPolicy.AutoEdit)]
    [InlineData("autoedit", ApprovalPolicy.AutoEdit)]
    [InlineData(" full-auto ", ApprovalPolicy.FullAuto)]
    [InlineData("full_auto", ApprovalPolicy.FullAuto)]
    public void TryParse_KnownNames_AreRead(string text, ApprovalPolicy expected)
    {
        Assert.True(ApprovalPolicies.TryParse(text, out var policy));
        Assert.Equal(expected, policy);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("yolo")]
    public void TryParse_UnknownText_IsFalseAndSuggest(string? text)
    {
        Assert.False(ApprovalPolicies.TryParse(text, out var policy));
        Assert.Equal(ApprovalPolicy.Suggest, policy);
    }

    [Theory]
    [InlineData(ApprovalPolicy.Suggest, "suggest")]
    [InlineData(ApprovalPolicy.AutoEdit, "auto-edit")]
    [InlineData(ApprovalPolicy.FullAuto, "full-auto")]
    public void WireName_EveryPolicy_ReadsBack(ApprovalPolicy policy, string wire)
    {
        Assert.Equal(wire, policy.WireName());
        Assert.True(ApprovalPolicies.TryParse(wire, out var read));
        Assert.Equal(policy, read);
    }
}
