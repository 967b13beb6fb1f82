using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace Portal.Security.Google;

/// <summary>What became of a Google sign-in; <see cref="Message"/> is what the sign-in page shows when refused.</summary>
internal sealed record GoogleSignInResult(GoogleRefusal Refusal, string? Email)
{
    public bool Succeeded => Refusal == GoogleRefusal.None;

    public string Message => GoogleRefusals.Message(Refusal, Email);
}

/// <summary>
/// Signs a person in with a Google ID token. The Portal account is found by its Google login (provider
/// <c>Google</c>, key = the token's <c>sub</c>, which never changes, unlike the e-mail address). At the first Google
/// sign-in an account with the same e-mail is linked only if its address is confirmed (an administrator or the setup
/// created it): a self-registered account's address was never proven, and linking it would hand the person who
/// registered it, perhaps not the owner of the address, the Google user's account. With no such account, one is created
/// only when <c>Portal:Google:CreateAccounts</c> is true.
/// </summary>
internal sealed partial class GoogleSignIn(
    GoogleIdTokenValidator validator,
    UserManager<PortalUser> users,
    SignInManager<PortalUser> signIn,
    IOptions<GoogleSignInOptions> options,
    ILogger<GoogleSignIn> logger)
{
    public const string LoginProvider = "Google";

    public bool Enabled => options.Value.Enabled;

    public string? ClientId => options.Value.ClientId;

    public async Task<GoogleSignInResult> SignInAsync(string? credential, bool persistent, CancellationToken cancellationToken)
    {
        var check = await validator.ValidateAsync(credential, cancellationToken);
        if (check.Identity is not { } identity)
        {
            Log.TokenRefused(logger, check.Refusal);
            return new(check.Refusal, check.Email);
        }
        var (user, refusal) = await FindOrCreateAsync(identity);
        if (user is null)
        {
            Log.AccountRefused(logger, identity.Email, refusal);
            return new(refusal, identity.Email);
        }
        if (await users.IsLockedOutAsync(user) || !await signIn.CanSignInAsync(user))
        {
            Log.AccountRefused(logger, identity.Email, GoogleRefusal.LockedOut);
            return new(GoogleRefusal.LockedOut, identity.Email);
        }
        await signIn.SignInAsync(user, persistent, authenticationMethod: LoginProvider);
        Log.SignedIn(logger, user.Id);
        return new(GoogleRefusal.None, identity.Email);
    }

    private async Task<(PortalUser? User, GoogleRefusal Refusal)> FindOrCreateAsync(GoogleIdentity identity)
    {
        if (await users.FindByLoginAsync(LoginProvider, identity.Subject) is { } linked)
        {
            return (linked, GoogleRefusal.None);
        }
        if (await users.FindByEmailAsync(identity.Email) is { } existing)
        {
            return await LinkAsync(existing, identity);
        }
        if (!options.Value.CreateAccounts)
        {
            return (null, GoogleRefusal.NoAccount);
        }
        var user = new PortalUser { UserName = identity.Email, Email = identity.Email, EmailConfirmed = true };
        var created = await users.CreateAsync(user);
        if (!created.Succeeded)
        {
            // Two first sign-ins at once: the other one created it.
            return await users.FindByLoginAsync(LoginProvider, identity.Subject) is { } raced
                ? (raced, GoogleRefusal.None)
                : (null, GoogleRefusal.CreateFailed);
        }
        if (!(await users.AddToRoleAsync(user, PortalRoles.User)).Succeeded
            || !(await users.AddLoginAsync(user, new UserLoginInfo(LoginProvider, identity.Subject, LoginProvider))).Succeeded)
        {
            await users.DeleteAsync(user);
            return (null, GoogleRefusal.CreateFailed);
        }
        Log.AccountCreated(logger, user.Id, identity.Email);
        return (user, GoogleRefusal.None);
    }

    private async Task<(PortalUser? User, GoogleRefusal Refusal)> LinkAsync(PortalUser user, GoogleIdentity identity)
    {
        if (!user.EmailConfirmed)
        {
            return (null, GoogleRefusal.AccountNotConfirmed);
        }
        if ((await users.GetLoginsAsync(user)).Any(l => l.LoginProvider == LoginProvider))
        {
            return (null, GoogleRefusal.LinkedToAnotherGoogleAccount);
        }
        if (!(await users.AddLoginAsync(user, new UserLoginInfo(LoginProvider, identity.Subject, LoginProvider))).Succeeded)
        {
            return await users.FindByLoginAsync(LoginProvider, identity.Subject) is { } raced
                ? (raced, GoogleRefusal.None)
                : (null, GoogleRefusal.CreateFailed);
        }
        Log.AccountLinked(logger, user.Id, identity.Email);
        return (user, GoogleRefusal.None);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Google sign-in refused: {Refusal}")]
        public static partial void TokenRefused(ILogger logger, GoogleRefusal refusal);

        [LoggerMessage(2, LogLevel.Information, "Google sign-in of {Email} refused: {Refusal}")]
        public static partial void AccountRefused(ILogger logger, string email, GoogleRefusal refusal);

        [LoggerMessage(3, LogLevel.Information, "User {UserId} signed in with Google")]
        public static partial void SignedIn(ILogger logger, string userId);

        [LoggerMessage(4, LogLevel.Information, "Account {UserId} ({Email}) created at its first Google sign-in")]
        public static partial void AccountCreated(ILogger logger, string userId, string email);

        [LoggerMessage(5, LogLevel.Information, "Account {UserId} ({Email}) linked to its Google account")]
        public static partial void AccountLinked(ILogger logger, string userId, string email);
    }
}
