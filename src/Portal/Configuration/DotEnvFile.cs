namespace Portal.Configuration;

/// <summary>Reads a <c>.env</c> file into the process environment; variables already set keep their values.</summary>
public static class DotEnvFile
{
    public static void Load(string path)
    {
        if (File.Exists(path))
        {
            DotNetEnv.Env.NoClobber().Load(path);
        }
    }
}
