namespace Portal.Components;

/// <summary><c>Portal:Ui</c>: the Blazor Server UI.</summary>
public sealed class UiOptions
{
    public const string Section = "Portal:Ui";

    /// <summary>
    /// Compress the circuits' WebSocket (permessage-deflate). Off by default: each compressed circuit keeps a zlib
    /// state of a few hundred KiB of native memory for as long as its tab is open (BENCHMARKS.md); on loopback or a
    /// LAN the bytes saved do not matter.
    /// </summary>
    public bool WebSocketCompression { get; set; }
}
