using System.Net;
using System.Net.Http.Json;
using System.Text;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;

namespace AspireMesh.ControlPlane.Tests.Api;

/// <summary>The AppHost's resources API (publish states and console lines, read them back) against the real control plane.</summary>
public sealed class ResourcesApiTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static Task<ControlPlaneProcess> StartAsync() => ControlPlaneProcess.StartAsync(typeof(ResourcesApiTests).Assembly);

    private static ResourceStatus Resource(string name, string kind = ResourceKinds.Project, string state = ResourceStates.Running) =>
        new(name, kind, state, 0, 4242, ["http://127.0.0.1:5000/"], null, DateTimeOffset.UtcNow);

    private static async Task<HttpResponseMessage> PutAsync(HttpClient http, params ResourceStatus[] resources) =>
        await http.PutAsJsonAsync("v1/resources", new ResourceSnapshot(resources), MeshJsonContext.Default.ResourceSnapshot, Cancel);

    private static async Task<HttpResponseMessage> PostLinesAsync(HttpClient http, string resource, IEnumerable<string> lines) =>
        await http.PostAsJsonAsync("v1/resources/logs", new ResourceLogBatch([.. lines.Select(l => new ResourceLogLine(resource, DateTimeOffset.UtcNow, l, false))]),
            MeshJsonContext.Default.ResourceLogBatch, Cancel);

    private static async Task<MeshProblem> ProblemAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync(MeshJsonContext.Default.MeshProblem, Cancel))!;

    private static async Task<ResourceList> ListAsync(ControlPlaneProcess controlPlane) =>
        (await controlPlane.Http.GetFromJsonAsync("v1/resources", MeshJsonContext.Default.ResourceList, Cancel))!;

    [Fact]
    public async Task Put_WithoutOrWithWrongToken_401AndNothingPublished()
    {
        await using var controlPlane = await StartAsync();

        using var anonymous = await PutAsync(controlPlane.Http, Resource("frontend-1"));
        using var wrong = new HttpClient { BaseAddress = controlPlane.Url };
        wrong.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "guess");
        using var guessed = await PutAsync(wrong, Resource("frontend-1"));
        using var lines = await PostLinesAsync(controlPlane.Http, "frontend-1", ["hello"]);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, guessed.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, lines.StatusCode);
        var list = await ListAsync(controlPlane);
        Assert.Null(list.PublishedAt);
        Assert.Empty(list.Resources);
    }

    [Fact]
    public async Task Put_ValidSnapshot_ListedByNameWithEveryField()
    {
        await using var controlPlane = await StartAsync();

        using var response = await PutAsync(controlPlane.Admin, Resource("gateway", ResourceKinds.Gateway),
            new ResourceStatus("catalog-2", ResourceKinds.Project, ResourceStates.Restarting, 3, null, [], 137, null));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var list = await ListAsync(controlPlane);
        Assert.NotNull(list.PublishedAt);
        Assert.Equal(["catalog-2", "gateway"], list.Resources.Select(r => r.Name));
        var catalog = list.Resources[0];
        Assert.Equal((ResourceKinds.Project, ResourceStates.Restarting, 3, (int?)null, (int?)137), (catalog.Kind, catalog.State, catalog.Restarts, catalog.Pid, catalog.ExitCode));
        Assert.Equal((4242, "http://127.0.0.1:5000/"), (list.Resources[1].Pid!.Value, Assert.Single(list.Resources[1].Urls)));
    }

    [Fact]
    public async Task Put_InvalidSnapshot_422WithThePathOfEveryErrorAndPreviousKept()
    {
        await using var controlPlane = await StartAsync();
        using (var first = await PutAsync(controlPlane.Admin, Resource("frontend-1")))
        {
            Assert.Equal(HttpStatusCode.NoContent, first.StatusCode);
        }

        using var response = await PutAsync(controlPlane.Admin,
            Resource("a"), Resource("a"), Resource("b", kind: "vm"), Resource("c", state: "Sleeping"),
            new ResourceStatus("d", ResourceKinds.Sidecar, ResourceStates.Running, -1, 0, ["not a url", "ftp://x/"], null, null), Resource(""));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await ProblemAsync(response);
        Assert.Equal(
            ["resources[1].name", "resources[2].kind", "resources[3].state", "resources[4].restarts", "resources[4].pid", "resources[4].urls[0]", "resources[4].urls[1]", "resources[5].name"],
            problem.Errors!.Select(e => e.Path));
        Assert.Contains("'vm' is not a resource kind; use one of: project, sidecar, controlplane, gateway.", problem.Errors![1].Message, StringComparison.Ordinal);
        Assert.Equal(["frontend-1"], (await ListAsync(controlPlane)).Resources.Select(r => r.Name));
    }

    [Fact]
    public async Task Put_MoreResourcesThanTheBound_422()
    {
        await using var controlPlane = await StartAsync();

        using var response = await PutAsync(controlPlane.Admin, [.. Enumerable.Range(0, 257).Select(i => Resource($"r{i}"))]);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("resources", Assert.Single((await ProblemAsync(response)).Errors!).Path);
    }

    [Fact]
    public async Task PostLogs_MoreThanKept_LastLinesKeptOldestFirstAndTailHonoured()
    {
        await using var controlPlane = await StartAsync();
        using (var put = await PutAsync(controlPlane.Admin, Resource("catalog-1")))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        using (var first = await PostLinesAsync(controlPlane.Admin, "catalog-1", Enumerable.Range(0, 150).Select(i => $"line {i}")))
        using (var second = await PostLinesAsync(controlPlane.Admin, "catalog-1", Enumerable.Range(150, 100).Select(i => $"line {i}")))
        {
            Assert.Equal((HttpStatusCode.NoContent, HttpStatusCode.NoContent), (first.StatusCode, second.StatusCode));
        }

        var all = await controlPlane.Http.GetFromJsonAsync("v1/resources/catalog-1/logs", MeshJsonContext.Default.ResourceLogs, Cancel);
        var tail = await controlPlane.Http.GetFromJsonAsync("v1/resources/catalog-1/logs?tail=3", MeshJsonContext.Default.ResourceLogs, Cancel);

        Assert.Equal(Enumerable.Range(50, 200).Select(i => $"line {i}"), all!.Lines.Select(l => l.Text));
        Assert.Equal(["line 247", "line 248", "line 249"], tail!.Lines.Select(l => l.Text));
    }

    [Fact]
    public async Task PostLogs_UnknownResource_422NamingTheLineAndNothingKept()
    {
        await using var controlPlane = await StartAsync();
        using (var put = await PutAsync(controlPlane.Admin, Resource("catalog-1")))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        var batch = new ResourceLogBatch([new("catalog-1", DateTimeOffset.UtcNow, "fine", false), new("ghost", DateTimeOffset.UtcNow, "boo", true)]);
        using var response = await controlPlane.Admin.PostAsJsonAsync("v1/resources/logs", batch, MeshJsonContext.Default.ResourceLogBatch, Cancel);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = Assert.Single((await ProblemAsync(response)).Errors!);
        Assert.Equal("lines[1].resource", error.Path);
        Assert.Contains("'ghost' is not a published resource", error.Message, StringComparison.Ordinal);
        Assert.Empty((await controlPlane.Http.GetFromJsonAsync("v1/resources/catalog-1/logs", MeshJsonContext.Default.ResourceLogs, Cancel))!.Lines);
    }

    [Fact]
    public async Task PostLogs_OverBatchLimitOrLongLine_RefusedOrCut()
    {
        await using var controlPlane = await StartAsync();
        using (var put = await PutAsync(controlPlane.Admin, Resource("catalog-1")))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        using var tooMany = await PostLinesAsync(controlPlane.Admin, "catalog-1", Enumerable.Range(0, 1001).Select(i => "x"));
        using var longLine = await PostLinesAsync(controlPlane.Admin, "catalog-1", [new string('y', 10_000)]);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, tooMany.StatusCode);
        Assert.Equal("lines", Assert.Single((await ProblemAsync(tooMany)).Errors!).Path);
        Assert.Equal(HttpStatusCode.NoContent, longLine.StatusCode);
        var kept = Assert.Single((await controlPlane.Http.GetFromJsonAsync("v1/resources/catalog-1/logs", MeshJsonContext.Default.ResourceLogs, Cancel))!.Lines);
        Assert.Equal(new string('y', 4096) + "…", kept.Text);
    }

    [Fact]
    public async Task Put_BodyOverOneMegabyte_413()
    {
        await using var controlPlane = await StartAsync();
        using (var put = await PutAsync(controlPlane.Admin, Resource("catalog-1")))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        var huge = $"{{\"lines\":[{string.Join(',', Enumerable.Range(0, 300).Select(_ => $"{{\"resource\":\"catalog-1\",\"at\":\"2025-01-01T00:00:00Z\",\"text\":\"{new string('z', 4000)}\",\"isError\":false}}"))}]}}";
        using var response = await controlPlane.Admin.PostAsync("v1/resources/logs", new StringContent(huge, Encoding.UTF8, "application/json"), Cancel);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task Put_ResourceLeftOut_ItsLogsForgottenAnd404()
    {
        await using var controlPlane = await StartAsync();
        using (var put = await PutAsync(controlPlane.Admin, Resource("catalog-1"), Resource("catalog-2")))
        using (var lines = await PostLinesAsync(controlPlane.Admin, "catalog-2", ["bye"]))
        using (var again = await PutAsync(controlPlane.Admin, Resource("catalog-1")))
        {
            Assert.Equal((HttpStatusCode.NoContent, HttpStatusCode.NoContent, HttpStatusCode.NoContent), (put.StatusCode, lines.StatusCode, again.StatusCode));
        }

        using var gone = await controlPlane.Http.GetAsync("v1/resources/catalog-2/logs", Cancel);
        using var badTail = await controlPlane.Http.GetAsync("v1/resources/catalog-1/logs?tail=0", Cancel);

        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Contains("'catalog-2' is not a resource the AppHost published", (await ProblemAsync(gone)).Detail, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, badTail.StatusCode);
        Assert.Equal("tail", Assert.Single((await ProblemAsync(badTail)).Errors!).Path);
    }
}
