using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AspireMesh.Contracts.Config;

namespace AspireMesh.EndToEnd.Tests;

/// <summary>Changing the mesh config through the running AppHost's control plane while traffic flows.</summary>
public sealed class LiveConfigTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Config_ChangedWhileTrafficFlows_AppliedWithinSecondsAndNoRequestFails()
    {
        await using var mesh = await AppHostProcess.StartAsync();
        // What the AppHost prints from here on is what the change did (a child that lost its port to another test's
        // process at start-up and was restarted then is no part of it).
        var startedOutput = mesh.Process.Output.Length;
        using var admin = new HttpClient { BaseAddress = mesh.ControlPlane };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", mesh.AdminToken);
        using var current = await admin.GetAsync("v1/config", Cancel);
        var config = MeshConfigParser.Parse(await current.Content.ReadAsStringAsync(Cancel), ConfigFormat.Json).Config!;

        var failures = new List<string>();
        using var stop = new CancellationTokenSource();
        var traffic = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var response = await mesh.Client.GetAsync("/api/products", CancellationToken.None);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                    lock (failures)
                    {
                        failures.Add($"{(int)response.StatusCode} {body}");
                    }
                }
            }
        }, CancellationToken.None);

        // Add a response header to the /api route, as a user editing the document would, and apply it as YAML.
        var api = config.Routes.Single(r => r.Rules.Single().Matches.Single().Path!.Value == "/api");
        api.Rules.Single().Filters =
        [
            new HttpRouteFilter { Type = FilterTypes.ResponseHeaderModifier, ResponseHeaderModifier = new() { Set = [new() { Name = "x-mesh-demo", Value = "live" }] } },
        ];
        using var put = new HttpRequestMessage(HttpMethod.Put, "v1/config")
        {
            Content = new StringContent(MeshConfigParser.Write(config, ConfigFormat.Yaml), Encoding.UTF8, "application/yaml"),
        };
        put.Headers.IfMatch.Add(current.Headers.ETag!);
        using var written = await admin.SendAsync(put, Cancel);
        Assert.Equal(HttpStatusCode.OK, written.StatusCode);

        await Eventually.UntilAsync(async () =>
        {
            using var response = await mesh.Client.GetAsync("/api/products", Cancel);
            return response.Headers.TryGetValues("x-mesh-demo", out var values) && values.Single() == "live";
        }, Deadline, "the gateway to apply the new route filter");

        stop.Cancel();
        await traffic;
        lock (failures)
        {
            Assert.Empty(failures);
        }

        Assert.DoesNotContain("exited unexpectedly", mesh.Process.Output[startedOutput..], StringComparison.Ordinal);
    }
}
