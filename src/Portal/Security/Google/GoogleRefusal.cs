namespace Portal.Security.Google;

/// <summary>Why a Google sign-in was refused. Each reason has one message that tells the person what to do.</summary>
public enum GoogleRefusal
{
    None,
    NotConfigured,
    Malformed,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    Expired,
    NotYetValid,
    EmailNotVerified,
    NotAllowed,
    KeysUnavailable,
    NoAccount,
    AccountNotConfirmed,
    LinkedToAnotherGoogleAccount,
    LockedOut,
    CreateFailed,
}

internal static class GoogleRefusals
{
    /// <summary>The sentence the sign-in page shows; <paramref name="email"/> is the Google account's, when known.</summary>
    public static string Message(GoogleRefusal refusal, string? email) => refusal switch
    {
        GoogleRefusal.NotConfigured => "Sign-in with Google is not set up on this Portal.",
        GoogleRefusal.Malformed => "That was not a valid Google sign-in. Use the Google button again.",
        GoogleRefusal.BadSignature => "Google's signature on this sign-in could not be verified, so it was refused. Use the Google button again.",
        GoogleRefusal.WrongIssuer => "This sign-in was not issued by Google, so it was refused.",
        GoogleRefusal.WrongAudience => "This Google sign-in was made for another application, not for this Portal (wrong audience).",
        GoogleRefusal.Expired => "The Google sign-in has expired. Use the Google button again.",
        GoogleRefusal.NotYetValid => "The Google sign-in is dated in the future; the server's clock may be wrong. Tell your administrator.",
        GoogleRefusal.EmailNotVerified => "Google has not verified the e-mail address of this account, so Portal cannot use it to sign you in.",
        GoogleRefusal.NotAllowed => $"The Google account {email} is not from a domain or address allowed on this Portal. Use your organization's account.",
        GoogleRefusal.KeysUnavailable => "Portal could not reach Google to check the sign-in. Try again in a minute.",
        GoogleRefusal.NoAccount => $"There is no Portal account for {email}. Ask an administrator to create one.",
        GoogleRefusal.AccountNotConfirmed => $"A Portal account for {email} exists, but its address was never confirmed, so it cannot be joined to a Google sign-in. Sign in with its password.",
        GoogleRefusal.LinkedToAnotherGoogleAccount => $"The Portal account for {email} is linked to a different Google account.",
        GoogleRefusal.LockedOut => "This account is locked after too many failed attempts. Try again in a few minutes.",
        GoogleRefusal.CreateFailed => $"Portal could not create an account for {email}. Ask an administrator.",
        _ => "",
    };
}
