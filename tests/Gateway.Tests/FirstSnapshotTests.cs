using System.Net;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Registry;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.Gateway.Tests;

/// <summary>A gateway that listens before its routes have come from the control plane.</summary>
public sealed class FirstSnapshotTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RequestBeforeTheFirstSnapshot_IsHeldThenRoutedAndStrippedByIt()
    {
        await using var app = await TestBackend.StartAsync("shop-app");
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(FirstSnapshotTests).Assembly, new MeshConfig
        {
            Services = [new() { Name = "shop" }],
            Routes =
            [
                new() { Name = "shop", ParentRefs = [new() { Name = "edge" }], Rules = [new() { Matches = [new() { Path = new() { Type = "PathPrefix", Value = "/shop" } }], BackendRefs = [new() { Name = "shop" }] }] },
                new() { Name = "partner", ParentRefs = [new() { Name = "partners" }], Rules = [new() { BackendRefs = [new() { Name = "shop" }] }] },
            ],
            // Another gateway vouches for its clients' email in x-user-email: a header only the snapshot names.
            Policies = new()
            {
                Authentication =
                [
                    new()
                    {
                        Name = "partners-jwt", TargetRef = new() { Kind = "Gateway", Name = "partners" },
                        Jwt = new() { JwksUri = "http://127.0.0.1:9/jwks", ClaimsToHeaders = [new() { Claim = "email", Header = "x-user-email" }] },
                    },
                ],
            },
        }, "--ControlPlane:LeaseDuration=00:10:00");
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, string>();
        app.Handler = context =>
        {
            seen[context.Request.Path.Value ?? ""] = context.Request.Headers["x-user-email"].ToString();
            context.Response.Headers["x-backend"] = "shop-app";
            return context.Response.WriteAsync("shop");
        };
        await controlPlane.Client.RegisterAsync("shop-1", new InstanceRegistration("shop", app.Url.ToString().TrimEnd('/'), true), Cancel);
        // The gateway gets its certificate through the relay, which holds its snapshot watch.
        await using var relay = await ControlPlaneRelay.StartAsync(controlPlane.Url);
        var stateDirectory = Directory.CreateTempSubdirectory("aspiremesh-gw-").FullName;
        try
        {
            await using var gateway = await TestProcess.StartDotnetAsync("gateway", BuiltProjects.Assembly(typeof(FirstSnapshotTests).Assembly, "Gateway.csproj"),
                ["--name", "edge", "--host", "127.0.0.1", "--port", "0", "--admin-port", "0", "--control-plane", relay.Url.ToString(), "--state-dir", stateDirectory],
                ControlPlaneProcess.GatewayEnvironment("edge"));
            var listening = await gateway.WaitForLineAsync(@"Gateway edge listening: (\S+), admin (\S+)$", Deadline);
            using var client = new HttpClient { BaseAddress = new Uri(listening.Groups[1].Value), Timeout = Deadline };

            using var forged = new HttpRequestMessage(HttpMethod.Get, "/shop/cart");
            forged.Headers.Add("x-user-email", "root@example.test");
            var early = client.SendAsync(forged, Cancel);
            await Task.WhenAny(early, gateway.WaitForLineAsync("Holding requests to the public listener until the first snapshot", Deadline));
            if (early.IsCompleted)
            {
                using var answer = await early;
                Assert.Fail($"answered {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync(Cancel)} before the first snapshot{Environment.NewLine}{gateway.Output}");
            }

            Assert.True(relay.HeldWatches > 0, "the gateway's snapshot watch was not held");
            relay.ReleaseWatches();

            using var response = await early.WaitAsync(Deadline, Cancel);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(Cancel)}{Environment.NewLine}{gateway.Output}");
            Assert.Equal("shop-app", response.Headers.GetValues("x-backend").Single());
            // Held until the snapshot named the header, then stripped as on any request.
            Assert.Equal("", seen["/shop/cart"]);
        }
        finally
        {
            Directory.Delete(stateDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task StoppedWhileTheControlPlaneIsUnreachable_ExitsAtOnceSayingSo()
    {
        var stateDirectory = Directory.CreateTempSubdirectory("aspiremesh-gw-").FullName;
        try
        {
            // No certificate yet, and none to be had: the gateway retries, and a stop meanwhile ends it cleanly.
            await using var gateway = await TestProcess.StartDotnetAsync("gateway", BuiltProjects.Assembly(typeof(FirstSnapshotTests).Assembly, "Gateway.csproj"),
                ["--name", "edge", "--host", "127.0.0.1", "--port", "0", "--admin-port", "0", "--control-plane", Ports.ClosedUrl().ToString(), "--state-dir", stateDirectory],
                ControlPlaneProcess.GatewayEnvironment("edge"));
            await gateway.WaitForLineAsync(@"Could not get a workload certificate \(attempt 1,", Deadline);

            Assert.Equal(0, await gateway.StopAsync(TimeSpan.FromSeconds(20)).WaitAsync(Deadline, Cancel));
            Assert.Contains("Stopped (SIGTERM) before a workload certificate was obtained", gateway.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(stateDirectory, recursive: true);
        }
    }
}
