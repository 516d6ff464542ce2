#!/usr/bin/env bash
# Publishes the sidecar (MeshProxy) as a Native AOT executable: one native file, no JIT, about half the JIT build's
# memory (docs/native-aot.md).
#
#   build/publish-sidecar-aot.sh [OUTPUT_DIR]     (default: artifacts/sidecar-aot)
#
# MESH_AOT_FRAMEWORK picks the .NET it is built against. By default .NET 10, whose Native AOT runtime pack
# (Microsoft.NETCore.App.Runtime.NativeAOT.<rid>) has to restore from the NuGet feed; where it does not (NU1101), the
# sidecar is built on .NET 9, whose compiler package carries its runtime (docs/native-aot.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/artifacts/sidecar-aot}
framework=${MESH_AOT_FRAMEWORK:-}

case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64 | arm64) rid=linux-arm64 ;;
  *) echo "publish-sidecar-aot: no Native AOT runtime identifier for machine type $(uname -m)" >&2; exit 2 ;;
esac
if ! command -v clang >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
  echo "publish-sidecar-aot: Native AOT links with clang or gcc, and neither is installed (Debian: apt-get install -y gcc)" >&2
  exit 2
fi

if [ -z "$framework" ]; then
  restore_log=$(mktemp)
  trap 'rm -f "$restore_log"' EXIT
  if dotnet restore "$root/MeshProxy/MeshProxy.csproj" -r "$rid" -p:PublishAot=true -p:MeshTargetFramework=net10.0 -nologo >"$restore_log" 2>&1; then
    framework=net10.0
  elif grep -qiE 'NU110[12].*nativeaot' "$restore_log"; then
    echo "publish-sidecar-aot: .NET 10's Native AOT runtime pack is not on this NuGet feed; building on .NET 9 instead:" >&2
    grep -m 3 -iE 'NU110[12]' "$restore_log" | sed 's/^/  /' >&2 || true
    framework=net9.0
  else
    # Any other failure (the network, the disk, the project) is not a reason to build another runtime quietly.
    echo "publish-sidecar-aot: restoring MeshProxy for net10.0/$rid failed:" >&2
    cat "$restore_log" >&2
    exit 1
  fi
fi

echo "publish-sidecar-aot: compiling MeshProxy for $framework/$rid with Native AOT (one to three minutes on 2 cores)"
dotnet publish "$root/MeshProxy/MeshProxy.csproj" -c Release -r "$rid" -p:PublishAot=true -p:MeshTargetFramework="$framework" \
  -o "$out" -nologo -clp:NoSummary
echo "publish-sidecar-aot: ready: $out/AspireMesh.MeshProxy"
