namespace Portal.Security;

/// <summary>Local accounts and the first administrator.</summary>
public sealed class AccountsOptions
{
    public const string Section = "Portal:Accounts";

    /// <summary>Whether anyone may create an account on the sign-in page (new accounts get the user role).</summary>
    public bool AllowRegistration { get; set; } = true;
}

/// <summary>The administrator created at first start when no admin exists (Portal:Admin:Email / Password).</summary>
public sealed class AdminOptions
{
    public const string Section = "Portal:Admin";

    /// <summary>E-mail (and user name) of the first administrator; empty means: print a setup link instead.</summary>
    public string? Email { get; set; }

    /// <summary>Password of the first administrator; used only to create it.</summary>
    public string? Password { get; set; }
}
