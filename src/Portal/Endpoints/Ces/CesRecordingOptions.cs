namespace Portal.Endpoints.Ces;

/// <summary>What Portal keeps of proxied widget connections.</summary>
public sealed class CesRecordingOptions
{
    public const string Section = "Portal:CesRecording";

    /// <summary>Store the content of text frames (up to CesProxy:RecordedPayloadBytes); off keeps only their counts and sizes.</summary>
    public bool RecordFrames { get; set; } = true;
}
