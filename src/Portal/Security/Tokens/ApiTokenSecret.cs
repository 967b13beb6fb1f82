using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Portal.Security.Tokens;

/// <summary>
/// The shape of a token: <c>ptl_</c>, a 12-hex-digit id (stored, shown in the token list, used to look the token up),
/// <c>_</c>, and 32 random bytes in base64url (256 bits: never stored, only its SHA-256).
/// </summary>
internal static class ApiTokenSecret
{
    public const int IdLength = 12;
    private const int SecretBytes = 32;
    private static readonly int SecretLength = Base64Url.GetEncodedLength(SecretBytes);
    private static readonly int Length = ApiTokenDefaults.Prefix.Length + IdLength + 1 + SecretLength;

    public static (string Id, string Token) Create()
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdLength / 2));
        var token = $"{ApiTokenDefaults.Prefix}{id}_{Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SecretBytes))}";
        return (id, token);
    }

    /// <summary>The id of a well-formed token, or null.</summary>
    public static string? IdOf(string token)
    {
        if (token.Length != Length || !token.StartsWith(ApiTokenDefaults.Prefix, StringComparison.Ordinal)
            || token[ApiTokenDefaults.Prefix.Length + IdLength] != '_')
        {
            return null;
        }
        var id = token.Substring(ApiTokenDefaults.Prefix.Length, IdLength);
        return id.All(char.IsAsciiHexDigitLower) ? id : null;
    }

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>Compares in constant time, so the time taken says nothing about how much of a guess was right.</summary>
    public static bool Matches(string token, byte[] storedHash) => CryptographicOperations.FixedTimeEquals(Hash(token), storedHash);
}
