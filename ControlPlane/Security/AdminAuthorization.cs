using AspireMesh.Contracts;
using AspireMesh.ControlPlane.Api;

namespace AspireMesh.ControlPlane.Security;

/// <summary>Endpoints that change the mesh require the admin token.</summary>
internal static class AdminAuthorization
{
    public static TBuilder RequireAdminToken<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var token = context.HttpContext.RequestServices.GetRequiredService<AdminToken>();
            var header = context.HttpContext.Request.Headers.Authorization.ToString();
            if (token.Accepts(header))
            {
                return await next(context).ConfigureAwait(false);
            }

            context.HttpContext.Response.Headers.WWWAuthenticate = "Bearer realm=\"aspiremesh-admin\"";
            return Problems.Problem(new MeshProblem("Unauthorized", StatusCodes.Status401Unauthorized, header.Length == 0
                ? $"changing the mesh needs the admin token: send 'Authorization: Bearer <token>' ({AdminToken.EnvironmentVariable}, or the token printed when the control plane first started)."
                : "the admin token is not valid."));
        });
}
