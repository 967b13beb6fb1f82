using Portal.Agents.Tools;

namespace Portal.Tests.Agents;

/// <summary>
/// A temp folder with a working directory (<c>work</c>) and a sibling outside it (<c>outside</c>), deleted afterwards.
/// </summary>
public sealed class TempFolder : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("portal-tests-");

    public TempFolder()
    {
        Work = Path.Combine(_folder.FullName, "work");
        Outside = Path.Combine(_folder.FullName, "outside");
        Directory.CreateDirectory(Work);
        Directory.CreateDirectory(Outside);
        WorkingDirectory = new WorkingDirectory(Work);
    }

    public string Work { get; }

    public string Outside { get; }

    public WorkingDirectory WorkingDirectory { get; }

    /// <summary>Writes a file under the working directory (relative path) or anywhere (absolute path).</summary>
    public string Write(string path, string content)
    {
        var full = Path.GetFullPath(path, Work);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
        return full;
    }

    public string Read(string path) => File.ReadAllText(Path.GetFullPath(path, Work));

    public bool Exists(string path) => File.Exists(Path.GetFullPath(path, Work));

    public void Dispose()
    {
        try
        {
            _folder.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A process a test started may still hold a file for a moment; the temp folder is cleaned by the system.
        }
    }
}
