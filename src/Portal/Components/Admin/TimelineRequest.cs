namespace Portal.Components.Admin;

public enum TimelineMove { Newest, Newer, Older }

/// <summary>A page of the timeline the admin asked for, showing only <see cref="Type"/> when it is given.</summary>
public sealed record TimelineRequest(TimelineMove Move, string? Type);
