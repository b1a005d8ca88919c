#!/usr/bin/env bash
# How the results store scales: builds realistic runs from real records, loads them into SQLite
# and into a private PostgreSQL, and times the reader commands with their peak RSS at each size.
#
#   Benchmarks/results-scale.sh [--sizes 1000,10000,100000] [--backends sqlite,postgres]
#                               [--vbench PATH] [--out FILE] [--check] [--keep]
#
# Records: the committed lab runs (results/lab/*/records.json, real QEMU guests: blk on six disk
# models, net on three NIC models) and runs made here at the start (native blk on a file, native
# and guest-role mem — this machine is a guest — and native net over loopback), as templates. Each generated run is a template with a new run id, a start
# time spread over a year, one of 20 hosts (the collector that received it: `import
# --host-label`), one of 3 kernels and tags (site, pool). Sizes are cumulative: the store grows
# from one size to the next, and the figures at each size are taken on the store of that size.
#
# For each backend and size it prints: load rate (records/s, `vbench import` of folders), store
# bytes per run, and the wall time and peak RSS of `runs list`, `report` (whole store; filtered
# by host and kernel), `compare kernel=A kernel=B --group-by host` and `capacity`.
# --check (CI): also checks that the store answers what the records say (the report of the
# store and `report --from` the generated files agree), at the first size only, without goals.
# --keep: leave the generated SQLite store and records in their folder (printed) to explore.
# Exit codes: 0 done, 1 a step failed, 64 usage.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=1000,10000,100000
backends=sqlite,postgres
vbench=""
out=""
check=0
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) sizes=$2; shift 2 ;;
        --backends) backends=$2; shift 2 ;;
        --vbench) vbench=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --check) check=1; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n 2,21p "$0"; exit 0 ;;
        *) echo "results-scale: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
done
if [ -z "$vbench" ]; then
    timeout 2400 swift build -c release --product vbench >/dev/null
    vbench=$(swift build -c release --show-bin-path)/vbench
fi
[ -x "$vbench" ] || { echo "results-scale: no vbench at $vbench" >&2; exit 64; }
work=$(mktemp -d /var/tmp/vbench-scale.XXXXXX)
pg_dir=""
cleanup() {
    [ -n "$pg_dir" ] && scripts/pg-cluster stop "$pg_dir" fast >/dev/null 2>&1 || true
    if [ "$keep" = 1 ]; then echo "results-scale: kept $work" >&2; else rm -rf "$work"; fi
    if [ -n "$pg_dir" ]; then rm -rf "$pg_dir"; fi
}
trap cleanup EXIT
report() { if [ -n "$out" ]; then echo "$*" >> "$out"; fi; echo "$*"; }
[ -n "$out" ] && : > "$out"

# 1. Templates: the lab's records and native runs made here, as version 2 records.
echo "results-scale: templates (lab records and native runs made here)" >&2
"$vbench" import --store "$work/templates.sqlite" results/lab >/dev/null
timeout 600 "$vbench" run --device blk --native --runs 1 --profile quick --target "$work/blk.file" --size 64m --out "$work/native" \
    --store "$work/templates.sqlite" >/dev/null
timeout 600 "$vbench" run --device mem --native --runs 1 --out "$work/native" --store "$work/templates.sqlite" >/dev/null
# This machine is itself a guest: its own mem run is a real guest-role record.
timeout 600 "$vbench" run --device mem --runs 1 --out "$work/native" --store "$work/templates.sqlite" >/dev/null
port=$((20000 + RANDOM % 20000))
timeout 300 "$vbench" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
serve_pid=$!
sleep 1
timeout 600 "$vbench" run --device net --native --runs 1 --peer "127.0.0.1:$port" --out "$work/native" \
    --store "$work/templates.sqlite" >/dev/null || true
kill "$serve_pid" 2>/dev/null || true
wait "$serve_pid" 2>/dev/null || true
"$vbench" runs export --store "$work/templates.sqlite" > "$work/templates.json"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
report "## Results store at scale — $(date -u +%Y-%m-%d), $cpu, $(nproc) vCPUs, kernel $(uname -r)"
report ""
report "Command: \`Benchmarks/results-scale.sh --sizes $sizes --backends $backends\`. Templates: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d), "records (", ", ".join(f"{k} {v}" for k, v in sorted(__import__("collections").Counter(r["family"] + "/" + r["role"] for r in d).items())), ")")' "$work/templates.json")."
report ""

# 2. The generator: N records from the templates, in folders per host (chunks of 500 per file).
cat > "$work/gen.py" <<'EOF'
import json, os, random, sys, uuid
templates = json.load(open(sys.argv[1]))
start, count, folder = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
kernels = ["6.1.0-55-amd64", "6.1.0-56-amd64", "6.12.9-amd64"]
year = 365 * 86400
base = 1_767_225_600  # 2026-01-01
chunks = {}
for i in range(start, start + count):
    rnd = random.Random(i)
    t = templates[i % len(templates)]
    r = dict(t)
    r["runId"] = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    s = base + rnd.randrange(year)
    d = 0
    try:
        from datetime import datetime
        d = int(datetime.fromisoformat(t["endTime"].replace("Z", "+00:00")).timestamp()
                - datetime.fromisoformat(t["startTime"].replace("Z", "+00:00")).timestamp())
    except Exception:
        d = 60
    fmt = lambda x: __import__("time").strftime("%Y-%m-%dT%H:%M:%SZ", __import__("time").gmtime(x))
    r["startTime"], r["endTime"] = fmt(s), fmt(s + max(d, 0))
    env = dict(t["environment"])
    env["kernelRelease"] = kernels[(i // len(templates)) % 3]
    env["hostname"] = f"guest-{rnd.randrange(300):03d}"
    r["environment"] = env
    tags = dict(t.get("tags", {}))
    tags["site"] = ["fra", "ams", "lhr"][i % 3]
    tags["pool"] = f"p{i % 7}"
    r["tags"] = tags
    host = f"hv-{i % 20:02d}"
    chunks.setdefault(host, []).append(r)
for host, records in chunks.items():
    os.makedirs(f"{folder}/{host}", exist_ok=True)
    for k in range(0, len(records), 500):
        with open(f"{folder}/{host}/runs-{start}-{k}.json", "w") as f:
            json.dump(records[k:k + 500], f, separators=(",", ":"))
EOF

measure() {  # label, command…: prints "label | seconds | MB"
    local label=$1; shift
    local t0 t1 rss
    t0=$(date +%s.%N)
    if ! /usr/bin/time -f "%M" -o "$work/rss" timeout 1800 "$@" > "$work/last.out" 2> "$work/last.err"; then
        # compare exits 1 on a regression verdict, which is an answer here.
        if ! grep -q . "$work/last.out"; then
            # A failure is a figure too (PostgreSQL has a per-query timeout): say it and go on.
            echo "results-scale: $label failed: $(tail -3 "$work/last.err")" >&2
            printf '%s|failed: %s|0\n' "$label" "$(tail -1 "$work/last.err" | cut -c1-60 | tr '|' '/')"
            return 0
        fi
    fi
    t1=$(date +%s.%N)
    rss=$(tail -1 "$work/rss")
    printf '%s|%.2f|%d\n' "$label" "$(echo "$t1 - $t0" | bc)" $((rss / 1024))
}

IFS=, read -r -a size_list <<< "$sizes"
IFS=, read -r -a backend_list <<< "$backends"
for backend in "${backend_list[@]}"; do
    case "$backend" in
        sqlite) store="$work/scale.sqlite"; env=() ;;
        postgres)
            pg_dir=$(mktemp -d /tmp/vbench-scale-pg.XXXXXX)
            scripts/pg-cluster start "$pg_dir" >/dev/null
            # shellcheck disable=SC1091
            source "$pg_dir/env"
            store=$VBENCH_TEST_PG_URL
            export PGPASSWORD=$VBENCH_TEST_PG_PASSWORD ;;
        *) echo "results-scale: unknown backend $backend" >&2; exit 64 ;;
    esac
    report "### $backend"
    report ""
    report "| runs | load records/s | store KB/run | runs list | report | report --host --kernel | compare --group-by host | capacity |"
    report "|---:|---:|---:|---:|---:|---:|---:|---:|"
    have=0
    for size in "${size_list[@]}"; do
        rm -rf "$work/gen"
        python3 "$work/gen.py" "$work/templates.json" "$have" $((size - have)) "$work/gen"
        t0=$(date +%s.%N)
        for host in "$work"/gen/*; do
            timeout 7200 "$vbench" import --store "$store" --host-label "$(basename "$host")" "$host" > /dev/null 2>&1
        done
        t1=$(date +%s.%N)
        rate=$(echo "($size - $have) / ($t1 - $t0)" | bc)
        if [ "$backend" = sqlite ]; then
            bytes=$(du -cb "$store"* | tail -1 | cut -f1)
        else
            bytes=$(psql -X -tA -h 127.0.0.1 -p "$(echo "$store" | sed 's/.*:\([0-9]*\)\/.*/\1/')" -U vbench -d vbench \
                    -c "SELECT pg_database_size('vbench')")
        fi
        if [ "$check" = 1 ] && [ "$have" = 0 ]; then
            # The store's report equals the report of the same records read from the files.
            python3 - "$work/gen" "$work/all.json" <<'EOF'
import json, glob, sys
out = []
for f in sorted(glob.glob(sys.argv[1] + "/*/*.json")):
    out += json.load(open(f))
json.dump(out, open(sys.argv[2], "w"))
EOF
            "$vbench" report --store "$store" --format json > "$work/a.json"
            "$vbench" report --from "$work/all.json" --format json > "$work/b.json"
            # Same rows and curves; numbers equal up to summation order (the store reads runs newest first).
            if ! python3 - "$work/a.json" "$work/b.json" >&2 <<'EOF'
import json, math, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
def rows(r):
    key = lambda x: (x["family"], x["workload"], x["device"], x["role"], x.get("metric", ""))
    return sorted(r["rows"], key=key), sorted(r["curves"], key=key)
def same(x, y, path):
    if isinstance(x, float) or isinstance(y, float):
        if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12): sys.exit(f"{path}: {x} != {y}")
    elif isinstance(x, dict):
        if x.keys() != y.keys(): sys.exit(f"{path}: keys {sorted(x)} != {sorted(y)}")
        for k in x: same(x[k], y[k], f"{path}.{k}")
    elif isinstance(x, list):
        if len(x) != len(y): sys.exit(f"{path}: {len(x)} items != {len(y)}")
        for i, (p, q) in enumerate(zip(x, y)): same(p, q, f"{path}[{i}]")
    elif x != y: sys.exit(f"{path}: {x!r} != {y!r}")
ra, ca = rows(a); rb, cb = rows(b)
same(ra, rb, "rows"); same(ca, cb, "curves")
if a["runs"] != b["runs"]: sys.exit(f"runs {a['runs']} != {b['runs']}")
print(f"results-scale: {len(ra)} rows and {len(ca)} curves equal")
EOF
            then
                echo "results-scale: the $backend store's report differs from the records' report" >&2
                exit 1
            fi
            n=$("$vbench" runs list --store "$store" --limit "$size" | tail -n +2 | wc -l)
            [ "$n" = "$size" ] || { echo "results-scale: runs list shows $n runs, $size loaded" >&2; exit 1; }
            echo "results-scale: $backend: $size runs; the store's report (SQL summary rows) = the report computed from the records" >&2
        fi
        have=$size
        row="| $size | $rate | $((bytes / size / 1024))"
        for q in "runs list|runs list --store $store" \
                 "report|report --store $store" \
                 "report --host --kernel|report --store $store --host hv-03 --kernel 6.1.0-56-amd64" \
                 "compare|compare --store $store kernel=6.1.0-55-amd64 kernel=6.1.0-56-amd64 --group-by host" \
                 "capacity|capacity --store $store --need blk.randread.iops=2000 --need net.stream.bps=1e8"; do
            label=${q%%|*}
            # shellcheck disable=SC2086
            line=$(measure "$label" "$vbench" ${q#*|}) || exit 1
            IFS='|' read -r _ secs mb <<< "$line"
            case "$secs" in failed*) row="$row | $secs" ;; *) row="$row | $secs s, $mb MB" ;; esac
        done
        report "$row |"
    done
    report ""
done
