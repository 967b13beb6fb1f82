using Microsoft.AspNetCore.Components.Server.Circuits;

namespace Portal.Admin;

/// <summary>Blazor Server circuits open now, and how many of them have their browser connected.</summary>
public sealed class CircuitCounter
{
    private int _open;
    private int _connected;

    public int Open => Volatile.Read(ref _open);
    public int Connected => Volatile.Read(ref _connected);

    internal void Opened() => Interlocked.Increment(ref _open);
    internal void Closed() => Interlocked.Decrement(ref _open);
    internal void Up() => Interlocked.Increment(ref _connected);
    internal void Down() => Interlocked.Decrement(ref _connected);
}

/// <summary>One per circuit: reports its opening, closing and connection changes to <see cref="CircuitCounter"/>.</summary>
internal sealed class CountingCircuitHandler(CircuitCounter counter) : CircuitHandler
{
    public override Task OnCircuitOpenedAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        counter.Opened();
        return Task.CompletedTask;
    }

    public override Task OnCircuitClosedAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        counter.Closed();
        return Task.CompletedTask;
    }

    public override Task OnConnectionUpAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        counter.Up();
        return Task.CompletedTask;
    }

    public override Task OnConnectionDownAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        counter.Down();
        return Task.CompletedTask;
    }
}
