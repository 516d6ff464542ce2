#!/usr/bin/env bash
# Publishes the sidecar (MeshProxy) as a Native AOT executable: one native file, no JIT, about half the JIT build's
# memory (docs/native-aot.md).
#
#   build/publish-sidecar-aot.sh [OUTPUT_DIR]     (default: artifacts/sidecar-aot)
#
# MESH_AOT_FRAMEWORK picks the .NET it is built against (default net9.0): on .NET 10, Native AOT needs the runtime
# pack Microsoft.NETCore.App.Runtime.NativeAOT.<rid>, which this project's NuGet feed does not hold; .NET 9's compiler
# package (held) still carries its runtime. Where the .NET 10 pack restores, MESH_AOT_FRAMEWORK=net10.0 builds the same
# sidecar on .NET 10.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/artifacts/sidecar-aot}
framework=${MESH_AOT_FRAMEWORK:-net9.0}

case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64 | arm64) rid=linux-arm64 ;;
  *) echo "publish-sidecar-aot: no Native AOT runtime identifier for machine type $(uname -m)" >&2; exit 2 ;;
esac
if ! command -v clang >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
  echo "publish-sidecar-aot: Native AOT links with clang or gcc, and neither is installed (Debian: apt-get install -y gcc)" >&2
  exit 2
fi

echo "publish-sidecar-aot: compiling MeshProxy for $framework/$rid with Native AOT (about a minute on 2 cores)"
dotnet publish "$root/MeshProxy/MeshProxy.csproj" -c Release -r "$rid" -p:PublishAot=true -p:MeshTargetFramework="$framework" \
  -o "$out" -nologo -clp:NoSummary
echo "publish-sidecar-aot: ready: $out/AspireMesh.MeshProxy"
