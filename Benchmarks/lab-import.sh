#!/usr/bin/env bash
# Import and report at the size of a busy lab: N copies (default 1,000) of the committed lab
# records (results/lab/*/records.json, quick profile, real QEMU guests and the lab's native
# runs), each with a new run id, in one records.json array as the lab writes it. Prints the
# record sizes (compact, as the wire and the store hold them), then the wall time, rate and peak
# RSS of `vbench import` into a fresh SQLite store and of `vbench report` (text and HTML) over it.
#
#   Benchmarks/lab-import.sh [--records N] [--repeat K] [--vbench PATH]
#
# Exit codes: 0 done, 1 a step failed, 64 usage.
set -euo pipefail
cd "$(dirname "$0")/.."
records=1000
repeat=3
vbench=""
while [ $# -gt 0 ]; do
    case "$1" in
        --records) records=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --vbench) vbench=$2; shift 2 ;;
        -h|--help) sed -n 2,10p "$0"; exit 0 ;;
        *) echo "lab-import: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
done
if [ -z "$vbench" ]; then
    timeout 2400 swift build -c release --product vbench >/dev/null
    vbench=$(swift build -c release --show-bin-path)/vbench
fi
[ -x "$vbench" ] || { echo "lab-import: no vbench at $vbench" >&2; exit 64; }
work=$(mktemp -d /var/tmp/vbench-lab-import.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The committed records as this vbench writes them (version 2), then N copies with new ids.
"$vbench" import --store "$work/src.sqlite" results/lab >/dev/null 2>&1
"$vbench" runs export --store "$work/src.sqlite" --format json > "$work/src.json"
python3 - "$work/src.json" "$records" "$work/records.json" <<'EOF'
import json, sys, uuid
src, n, out = json.load(open(sys.argv[1])), int(sys.argv[2]), sys.argv[3]
sizes = sorted((len(json.dumps(r, separators=(",", ":"))), r["role"], r["family"]) for r in src)
guest = [s for s, role, _ in sizes if role == "guest"]
print(f"templates: {len(src)} committed lab records; compact JSON {sizes[0][0] / 1000:.1f}–{sizes[-1][0] / 1000:.1f} KB "
      f"(guests {min(guest) / 1000:.1f}–{max(guest) / 1000:.1f} KB; largest: {sizes[-1][2]}/{sizes[-1][1]})")
copies = []
for i in range(n):
    r = dict(src[i % len(src)])
    r["runId"] = str(uuid.UUID(int=(1 << 124) + i)).upper()
    copies.append(r)
json.dump(copies, open(out, "w"), separators=(",", ":"))
EOF
echo "records.json: $records records, $(( $(stat -c %s "$work/records.json") / 1000 )) KB"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) vCPUs, kernel $(uname -r)"

timed() {  # label, command…
    local label=$1; shift
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/rss" timeout 600 "$@" > "$work/out" 2> "$work/err" \
        || { echo "lab-import: $label failed: $(tail -3 "$work/err")" >&2; exit 1; }
    t1=$(date +%s.%N)
    secs=$(echo "$t1 - $t0" | bc)
    printf '%s: %.2f s, %d MB peak RSS' "$label" "$secs" $(( $(tail -1 "$work/rss") / 1024 ))
}
for k in $(seq 1 "$repeat"); do
    rm -f "$work"/t.sqlite*
    timed "import #$k" "$vbench" import --store "$work/t.sqlite" "$work/records.json"
    printf ', %d records/s\n' "$(echo "$records / $secs" | bc)"
done
echo "store: $(( $(du -cb "$work"/t.sqlite* | tail -1 | cut -f1) / records / 1000 )) KB/run"
for k in $(seq 1 "$repeat"); do
    timed "report #$k" "$vbench" report --store "$work/t.sqlite"; echo
    timed "report --format html #$k" "$vbench" report --store "$work/t.sqlite" --format html; echo
done
