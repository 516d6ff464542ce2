using System.Net;
using System.Text;
using AspireMesh.ControlPlane.Registry;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Dashboard;

/// <summary>
/// The mesh dashboard's first page: services and their instances, refreshed every few seconds. The full dashboard
/// (topology, golden metrics, tap) builds on the same API.
/// </summary>
internal static class DashboardPage
{
    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", () => Results.Redirect("/dashboard/"));
        endpoints.MapGet("/dashboard/", (MeshStateStore store, InstanceRegistry registry) =>
            Results.Content(Render(store.Current, registry.List()), "text/html; charset=utf-8"));
        return endpoints;
    }

    private static string Render(MeshState state, IReadOnlyList<RegisteredInstance> instances)
    {
        var html = new StringBuilder();
        html.Append("""
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">
            <title>AspireMesh dashboard</title>
            <style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}
            td,th{border:1px solid #ccc;padding:.3rem .7rem;text-align:left}.healthy{color:#080}.unhealthy{color:#b00}</style>
            </head><body><h1>AspireMesh</h1>
            """);
        html.Append("<p>Mesh state version <b>").Append(state.Version).Append("</b>. Services and instances, as the registry sees them (refreshes every 3 s).</p>");
        html.Append("<table><thead><tr><th>Service</th><th>Instance</th><th>Address</th><th>Health</th><th>Last heartbeat</th></tr></thead><tbody>");
        var byService = instances.ToLookup(i => i.Service, StringComparer.Ordinal);
        foreach (var service in state.ServiceNames)
        {
            var list = byService[service].OrderBy(i => i.Id, StringComparer.Ordinal).ToList();
            if (list.Count == 0)
            {
                html.Append("<tr><td>").Append(Encode(service)).Append("</td><td colspan=\"4\" class=\"unhealthy\">no instances</td></tr>");
            }

            foreach (var instance in list)
            {
                var health = instance.Healthy ? "healthy" : "unhealthy";
                html.Append("<tr><td>").Append(Encode(service))
                    .Append("</td><td>").Append(Encode(instance.Id))
                    .Append("</td><td>").Append(Encode(instance.Address))
                    .Append("</td><td class=\"").Append(health).Append("\">").Append(health)
                    .Append("</td><td>").Append(instance.LastHeartbeat.ToString("u", System.Globalization.CultureInfo.InvariantCulture))
                    .Append("</td></tr>");
            }
        }

        html.Append("</tbody></table><p>API: <a href=\"/v1/services\">/v1/services</a></p></body></html>");
        return html.ToString();
    }

    private static string Encode(string value) => WebUtility.HtmlEncode(value);
}
