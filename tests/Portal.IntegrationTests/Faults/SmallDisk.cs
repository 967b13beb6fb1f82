using System.Diagnostics;

namespace Portal.IntegrationTests.Faults;

/// <summary>
/// A small filesystem of its own (tmpfs, mounted for the test; needs root, as on the CI machine) that can be filled to
/// the last byte, so SQLite meets a real ENOSPC.
/// </summary>
internal sealed class SmallDisk : IAsyncDisposable
{
    private SmallDisk(string folder) => Folder = folder;

    public string Folder { get; }

    public static async Task<SmallDisk> MountAsync(int megabytes)
    {
        var folder = Directory.CreateTempSubdirectory("portal-disk-").FullName;
        var (code, output) = await RunAsync("mount", "-t", "tmpfs", "-o", $"size={megabytes}m,mode=0700", "tmpfs", folder);
        if (code != 0)
        {
            Directory.Delete(folder);
            Assert.Skip($"A full disk is simulated with a small tmpfs, which needs mount (root): {output.Trim()}");
        }
        return new SmallDisk(folder);
    }

    /// <summary>Fills the disk up to its last byte with one file, and returns its path: delete it to make room again.</summary>
    public string Fill()
    {
        var path = Path.Combine(Folder, "filler");
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite, bufferSize: 1);
        foreach (var size in (ReadOnlySpan<int>)[1 << 20, 4096, 1])
        {
            var block = new byte[size];
            try
            {
                while (true)
                {
                    file.Write(block);
                }
            }
            catch (IOException)
            {
                // ENOSPC: on with smaller blocks, down to the last byte
            }
        }
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        await RunAsync("umount", "-l", Folder);
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        try
        {
            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }
}
