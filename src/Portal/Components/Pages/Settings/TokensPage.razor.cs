using System.Security.Claims;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Portal.Security;
using Portal.Security.Tokens;
using Radzen;

namespace Portal.Components.Pages.Settings;

/// <summary>
/// A user's API tokens: create one (name, scopes, expiry) and see it once, list them with their last use, revoke.
/// The new token lives in this component only until it is dismissed or the page is left.
/// </summary>
public sealed partial class TokensPage
{
    private sealed record ExpiryChoice(int Days, string Label);

    private static readonly IReadOnlyList<ExpiryChoice> ExpiryChoices =
        [new(7, "in 7 days"), new(30, "in 30 days"), new(90, "in 90 days"), new(365, "in a year"), new(0, "never")];

    private ClaimsPrincipal _user = new();
    private IReadOnlyList<string> _grantable = [];
    private readonly HashSet<string> _scopes = [];
    private string _name = "";
    private int _expiryDays = 90;
    private string? _error;
    private bool _busy;
    private NewApiToken? _created;
    private IReadOnlyList<ApiTokenInfo>? _tokens;
    private DateTimeOffset _now;

    [CascadingParameter]
    private Task<AuthenticationState> AuthenticationState { get; set; } = default!;

    [Inject]
    private IApiTokenStore Tokens { get; set; } = default!;

    [Inject]
    private DialogService Dialogs { get; set; } = default!;

    [Inject]
    private TimeProvider Time { get; set; } = default!;

    protected override async Task OnInitializedAsync()
    {
        _user = (await AuthenticationState).User;
        _grantable = ApiScopes.GrantableBy(_user);
        await LoadAsync();
    }

    private async Task LoadAsync()
    {
        _now = Time.GetUtcNow();
        _tokens = _user.UserId() is { } userId ? await Tokens.ListAsync(userId, CancellationToken.None) : [];
    }

    private void Toggle(string scope, bool on)
    {
        if (on)
        {
            _scopes.Add(scope);
        }
        else
        {
            _scopes.Remove(scope);
        }
    }

    private async Task CreateAsync()
    {
        if (_busy)
        {
            return;
        }
        _busy = true;
        try
        {
            var expires = _expiryDays > 0 ? Time.GetUtcNow().AddDays(_expiryDays) : (DateTimeOffset?)null;
            var result = await Tokens.CreateAsync(_user, _name, [.. _scopes], expires, CancellationToken.None);
            _error = result.Error;
            if (result.Created is { } created)
            {
                _created = created;
                _name = "";
                _scopes.Clear();
                await LoadAsync();
            }
        }
        finally
        {
            _busy = false;
        }
    }

    private async Task RevokeAsync(ApiTokenInfo token)
    {
        var confirmed = await Dialogs.Confirm(
            $"Revoke “{token.Name}”? Programs using it are refused from now on. This cannot be undone.",
            "Revoke token",
            new ConfirmOptions { OkButtonText = "Revoke", CancelButtonText = "Cancel" });
        if (confirmed != true || _user.UserId() is not { } userId)
        {
            return;
        }
        await Tokens.RevokeAsync(userId, token.Id, CancellationToken.None);
        if (_created?.Info.Id == token.Id)
        {
            _created = null;
        }
        await LoadAsync();
    }

    private string StatusOf(ApiTokenInfo token) =>
        token.RevokedAt is not null ? "revoked" : token.IsExpired(_now) ? "expired" : "active";

    private static string Describe(string scope) => scope switch
    {
        ApiScopes.Agent => "the agent protocol, /ws/agent",
        ApiScopes.Chat => "the chat protocol, /ws/chat",
        ApiScopes.Hub => "the session hub, /hubs/session",
        ApiScopes.Events => "read your sessions and their events, /api/sessions",
        ApiScopes.Admin => "the admin API (administrators only)",
        _ => "",
    };
}
