using System.Globalization;

namespace Portal.Benchmarks;

/// <summary>The benchmarks' options: <c>--name value</c> pairs after the benchmark's name.</summary>
internal static class CommandLine
{
    /// <summary>The integer after <paramref name="name"/>, or <paramref name="fallback"/> when it is not given.</summary>
    public static int Option(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }

    /// <summary>The text after <paramref name="name"/>, or null when it is not given.</summary>
    public static string? TextOption(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }
}
