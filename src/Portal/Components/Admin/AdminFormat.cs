using System.Globalization;

namespace Portal.Components.Admin;

/// <summary>How the admin pages write times, durations, sizes and counts: compact, invariant, the server's time zone.</summary>
public static class AdminFormat
{
    public static string Time(DateTimeOffset time) => time.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);

    public static string TimeWithSeconds(DateTimeOffset time) => time.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    public static string Clock(DateTimeOffset time) => time.ToLocalTime().ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);

    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    public static string Duration(TimeSpan span) => span switch
    {
        { TotalMilliseconds: < 1_000 } => $"{span.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)} ms",
        { TotalSeconds: < 60 } => $"{span.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s",
        { TotalMinutes: < 60 } => $"{(int)span.TotalMinutes} min {span.Seconds} s",
        { TotalHours: < 48 } => $"{(int)span.TotalHours} h {span.Minutes} min",
        _ => $"{(int)span.TotalDays} d {span.Hours} h",
    };

    public static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{(bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture)} KiB",
        < 1024L * 1024 * 1024 => $"{(bytes / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture)} MiB",
        _ => $"{(bytes / 1073741824.0).ToString("0.00", CultureInfo.InvariantCulture)} GiB",
    };
}
