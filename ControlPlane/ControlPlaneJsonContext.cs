using System.Text.Json;
using System.Text.Json.Serialization;
using AspireMesh.ControlPlane.Config;

namespace AspireMesh.ControlPlane;

/// <summary>JSON metadata of what the control plane persists.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ConfigHistory))]
[JsonSerializable(typeof(AspireMesh.ControlPlane.Security.CaState))]
[JsonSerializable(typeof(List<AspireMesh.ControlPlane.Security.BootstrapUse>))]
[JsonSerializable(typeof(List<AspireMesh.ControlPlane.Security.RevokedCredential>))]
internal sealed partial class ControlPlaneJsonContext : JsonSerializerContext;
