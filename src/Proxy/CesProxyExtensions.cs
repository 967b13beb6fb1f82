using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Portal.Proxy;

/// <summary>Entry points that add the CES WebSocket proxy to a host, in the style of YARP's AddReverseProxy/MapReverseProxy.</summary>
public static class CesProxyExtensions
{
    /// <summary>Registers the services of the CES proxy.</summary>
    public static IServiceCollection AddCesProxy(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services;
    }

    /// <summary>Maps the CES proxy at <paramref name="pattern"/>.</summary>
    public static IEndpointConventionBuilder MapCesProxy(this IEndpointRouteBuilder endpoints, string pattern)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        // The proxy itself lands with issue 2/5; until then the path answers plainly instead of falling through to the UI.
        return endpoints.Map(pattern, static () => Results.Problem(
            detail: "The CES proxy is not available in this build.", statusCode: StatusCodes.Status501NotImplemented));
    }
}
