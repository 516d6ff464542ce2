#!/usr/bin/env bash
# Writes MeshProxy/aot/method-order.txt: the methods a running Native AOT sidecar executes, hottest first. The compiler
# lays them out in that order at the start of the executable's code (IlcOrderFile, MeshProxy.csproj), so what a
# sidecar keeps resident is a few contiguous pages instead of pages spread over the whole 14 MB code segment
# (docs/benchmarks.md, twentieth round).
#
#   build/profile-sidecar-method-order.sh        (about 7 minutes on 2 cores)
#
# Needs perf (Debian: apt-get install -y linux-perf), objdump (binutils) and the bench's load generators (wrk,
# nghttp2-client). It publishes the sidecar with build/publish-sidecar-aot.sh, runs the bench's Native AOT sidecar
# scenarios (maximum throughput and 1000 requests/s, HTTP/1.1 and HTTP/2 clients, then a freshly started pair at 1000
# requests/s only) with perf sampling both sidecars' call stacks once they have started, and lists every method of the
# executable seen on a sampled stack: by how often it was on top, then by how often it was on the stack at all. Only
# the compiler's methods are listed (the executable's __managedcode section): the runtime's C and C++ code is the
# linker's to place.
#
# Run it again after large changes to the data plane or a new .NET: a stale list costs memory, never correctness (the
# compiler skips names it does not know, and places methods not listed after those listed, in its own order).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/MeshProxy/aot/method-order.txt

for tool in perf objdump wrk h2load; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "profile-sidecar-method-order: $tool is not installed (Debian: apt-get install -y linux-perf binutils wrk nghttp2-client)" >&2
    exit 2
  fi
done

# Job control: each background job is a process group of its own that keeps SIGINT (without it bash starts background
# jobs ignoring it), so the bench's group can be sent what Ctrl+C sends: dotnet run leaves it to the bench, which stops
# every process it started.
set -m
work=$(realpath "$(mktemp -d)")
bench=
delayed=()
cleanup() {
  if [ -n "$bench" ]; then
    kill -INT -- "-$bench" 2>/dev/null || true
    wait "$bench" 2>/dev/null || true
  fi
  for pid in "${delayed[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  pkill -INT -f "^perf record -q -g -F 9999 -p [0-9]+ -o $work/" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$root/build/publish-sidecar-aot.sh" "$work/aot"
exe=$work/aot/AspireMesh.MeshProxy

echo "profile-sidecar-method-order: building the bench"
dotnet build -c Release "$root/bench/Mesh.Bench" -nologo -clp:NoSummary -v q
echo "profile-sidecar-method-order: running the bench's Native AOT sidecar scenarios with perf (about 5 minutes)"
dotnet run -c Release --no-build --project "$root/bench/Mesh.Bench" -- --only sidecars-aot,sidecars-aot-steady \
  --runs 1 --duration 10 --aot-sidecar "$exe" --output "$work/bench" &
bench=$!

declare -A sampled
while kill -0 "$bench" 2>/dev/null; do
  for pid in $(pgrep -f "^$exe " || true); do
    if [ -z "${sampled[$pid]:-}" ]; then
      sampled[$pid]=1
      # Five seconds in, start-up is over and its code released (MappedCode): only what keeps running is sampled.
      (sleep 5 && perf record -q -g -F 9999 -p "$pid" -o "$work/perf-$pid.data" >"$work/perf-$pid.log" 2>&1 || true) &
      delayed+=($!)
    fi
  done
  sleep 0.5
done
status=0
wait "$bench" || status=$?
bench=
if [ "$status" -ne 0 ]; then
  echo "profile-sidecar-method-order: the bench failed (exit $status); $out is unchanged" >&2
  exit 1
fi
wait # each perf ends with the sidecar it samples
delayed=()

shopt -s nullglob
data=("$work"/perf-*.data)
if [ ${#data[@]} -eq 0 ]; then
  echo "profile-sidecar-method-order: no sidecar was sampled; $out is unchanged. perf said:" >&2
  cat "$work"/perf-*.log >&2 2>/dev/null || true
  exit 1
fi

# The compiler's methods: the functions of the __managedcode section (objdump -t: address, flags, section, size, name).
managed=$work/managed.txt
objdump -t "$exe.dbg" | awk 'NF >= 4 && $(NF - 2) == "__managedcode" { print $NF }' > "$managed"

# perf script prints each sample as its stack, one frame a line ("address symbol (file)"), top first, with blank lines
# between samples. perf finds the symbols through the executable's debug link (AspireMesh.MeshProxy.dbg beside it).
list=$work/method-order.txt
for file in "${data[@]}"; do
  perf script -i "$file" -F ip,sym,dso --no-demangle --no-inline 2>/dev/null
done | awk -v dso="($exe)" -v managed="$managed" '
  BEGIN { while ((getline name < managed) > 0) compiled[name] = 1 }
  NF == 0 { top = 1; next }
  {
    if ($NF != dso || !($2 in compiled)) { top = 0; next }
    if (top) self[$2]++
    any[$2]++
    top = 0
  }
  END { for (s in any) printf "%d %d %s\n", self[s], any[s], s }' |
  sort -k1,1nr -k2,2nr -k3,3 | awk '{ print $3 }' > "$list"

count=$(wc -l < "$list")
if [ "$count" -lt 100 ]; then
  echo "profile-sidecar-method-order: only $count methods sampled, too few to be the sidecar's hot path; $out is unchanged" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
cp "$list" "$out"
echo "profile-sidecar-method-order: wrote $out ($count methods, from ${#data[@]} sampled sidecars)"
