using System.Security.Cryptography;

namespace Portal.Security;

/// <summary>The one-time secret of the first-run setup link; it lives in memory only and dies once an admin exists.</summary>
internal sealed class SetupToken
{
    private string? _value;

    public bool IsActive => Volatile.Read(ref _value) is not null;

    public string Issue()
    {
        var value = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        Volatile.Write(ref _value, value);
        return value;
    }

    public bool Matches(string? candidate)
    {
        var value = Volatile.Read(ref _value);
        return value is not null && candidate is not null
            && CryptographicOperations.FixedTimeEquals(
                System.Text.Encoding.ASCII.GetBytes(value), System.Text.Encoding.ASCII.GetBytes(candidate));
    }

    /// <summary>Consumes the token: true for exactly one caller holding the right value.</summary>
    public bool TryConsume(string? candidate)
    {
        var value = Volatile.Read(ref _value);
        return Matches(candidate) && Interlocked.CompareExchange(ref _value, null, value) == value;
    }

    public void Revoke() => Volatile.Write(ref _value, null);
}
