namespace Portal.IntegrationTests.Faults;

/// <summary>
/// The fault tests kill processes, lock and fill databases, and measure the managed heap: they run one at a time, after
/// the tests that run in parallel, so neither disturbs the other on a small machine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FaultsCollection
{
    public const string Name = "Faults";
}
