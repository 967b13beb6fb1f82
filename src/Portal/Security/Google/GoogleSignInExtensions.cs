using Microsoft.Extensions.Options;

namespace Portal.Security.Google;

public static class GoogleSignInExtensions
{
    /// <summary>
    /// Sign-in with Google ID tokens on the sign-in page, when <c>Portal:Google:ClientId</c> is set. Programs do not
    /// send Google ID tokens as bearer tokens; they use Portal's API tokens (docs/security-signin.md says why).
    /// </summary>
    public static IHostApplicationBuilder AddGoogleSignIn(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<GoogleSignInOptions>()
            .BindConfiguration(GoogleSignInOptions.Section)
            .Configure<IConfiguration>(GoogleSignInOptions.ReadLists)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<GoogleSignInOptions>, GoogleSignInOptionsValidation>();
        services.AddSingleton<GoogleIdTokenValidator>();
        services.AddScoped<GoogleSignIn>();
        services.AddHostedService<GoogleSignInAnnouncement>();
        return builder;
    }
}

/// <summary>Says at start whether Google sign-in is on, and warns when it lets any Google account create an account.</summary>
internal sealed partial class GoogleSignInAnnouncement(IOptions<GoogleSignInOptions> options, ILogger<GoogleSignInAnnouncement> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (settings.Enabled)
        {
            Log.Enabled(logger, settings.ClientId!, settings.AllowedDomains.Count, settings.AllowedEmails.Count, settings.CreateAccounts);
            if (settings.CreateAccounts && settings.AllowsEveryAccount)
            {
                Log.OpenToEveryone(logger);
            }
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Sign-in with Google is on for client {ClientId} ({Domains} allowed domains, {Emails} allowed addresses, accounts created: {CreateAccounts})")]
        public static partial void Enabled(ILogger logger, string clientId, int domains, int emails, bool createAccounts);

        [LoggerMessage(2, LogLevel.Warning, "Portal:Google:CreateAccounts is true and neither AllowedDomains nor AllowedEmails is set: anyone with a Google account can create a Portal account")]
        public static partial void OpenToEveryone(ILogger logger);
    }
}
