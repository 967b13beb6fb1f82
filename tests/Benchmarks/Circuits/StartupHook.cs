using Portal.Benchmarks.Circuits;

/// <summary>
/// Run by .NET before <c>Main</c> in a server process started with <c>DOTNET_STARTUP_HOOKS</c> naming this assembly:
/// starts the <see cref="ServerProbe"/>. The runtime looks for exactly this name, outside any namespace.
/// </summary>
#pragma warning disable CA1050 // Declare types in namespaces: a startup hook must not have one.
internal static class StartupHook
#pragma warning restore CA1050
{
    public static void Initialize() => ServerProbe.Start();
}
