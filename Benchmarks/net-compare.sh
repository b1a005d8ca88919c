#!/usr/bin/env bash
# net-compare.sh — vbench's network tests against iperf3 and sockperf on loopback, same work,
# alternating which goes first, REPS repetitions:
#   stream guest→peer, 1 connection and 4:  vbench stream-send-p1/p4-128k vs iperf3 -P 1/-P 4 (128 KiB writes)
#   stream peer→guest, 1 connection and 4:  vbench stream-recv-p1/p4-128k vs iperf3 -R -P 1/-P 4
#   request/response, 14-byte messages:     vbench rr-14b vs sockperf ping-pong -m 14 (its smallest message)
# Prints medians and the ratios vbench / peer (goals: stream ≥ 1.00, RR transactions/s ≥ 0.95), and
# the paired ratio (geometric mean of the per-repetition ratios) with a 95 % bootstrap interval,
# with the CPU model, then the ratios of every earlier Benchmarks/results-net-*.md (other machines).
#
# Usage: Benchmarks/net-compare.sh [--vbench PATH] [--seconds 3] [--reps 5] [--out FILE.md]
# Only 127.0.0.1 is used; the three servers are started here and ended by their PIDs.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
VBENCH="" SECONDS_PER=3 REPS=5 OUT=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --vbench) VBENCH=$2; shift 2 ;;
        --seconds) SECONDS_PER=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "net-compare: unknown option $1 (see --help)" >&2; exit 64 ;;
    esac
done
for tool in iperf3 sockperf python3; do
    command -v $tool >/dev/null || { echo "net-compare: needs $tool (apt-get install -y iperf3 sockperf)" >&2; exit 1; }
done
if [[ -z "$VBENCH" ]]; then
    (cd "$REPO_ROOT" && swift build -c release 2>&1 | grep -v '^\[' >&2) || true
    VBENCH=$(cd "$REPO_ROOT" && swift build -c release --show-bin-path)/vbench
fi
work=$(mktemp -d /var/tmp/net-compare.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
base=$((20000 + RANDOM % 20000))
VP=$base IP=$((base + 1)) SP=$((base + 2))
"$VBENCH" serve --listen 127.0.0.1:$VP 2>"$work/serve.log" & pids+=($!)
iperf3 -s -B 127.0.0.1 -p $IP >"$work/iperf3-server.log" 2>&1 & pids+=($!)
sockperf server --tcp -i 127.0.0.1 -p $SP >"$work/sockperf-server.log" 2>&1 & pids+=($!)
sleep 1

run_vbench() {
    timeout 600 "$VBENCH" run --runs 1 --device net --peer 127.0.0.1:$VP --runtime "$SECONDS_PER" --repeat 1 --streams 4 \
        --test stream,rr --rr-size 14 --json --out "$work/vb" 2>/dev/null | python3 -c "
import json, sys
r = json.load(sys.stdin)
m = {w['spec']['name']: w['repetitions'][0]['metrics'] for w in r['workloads']}
t = lambda n: m[n]['throughputBitsPerSec']
print(json.dumps({'p1': t('stream-send-p1-128k'), 'p4': t('stream-send-p4-128k'),
                  'r1': t('stream-recv-p1-128k'), 'r4': t('stream-recv-p4-128k'), 'rr': m['rr-14b']['transactionsPerSec']}))"
}
iperf() { timeout 120 iperf3 -c 127.0.0.1 -p $IP -t "$SECONDS_PER" -l 128K -J "$@" | python3 -c "import json,sys; print(json.load(sys.stdin)['end']['sum_received']['bits_per_second'])"; }
run_peers() {
    local p1 p4 r1 r4 rr
    p1=$(iperf -P 1); p4=$(iperf -P 4); r1=$(iperf -P 1 -R); r4=$(iperf -P 4 -R)
    rr=$(timeout 120 sockperf ping-pong --tcp -i 127.0.0.1 -p $SP -t "$SECONDS_PER" -m 14 2>&1 | python3 -c "
import re, sys
t = sys.stdin.read()
m = re.search(r'RunTime=([0-9.]+) sec; SentMessages=([0-9]+); ReceivedMessages=([0-9]+)', t)
print(int(m.group(3)) / float(m.group(1)))")
    echo "{\"p1\": $p1, \"p4\": $p4, \"r1\": $r1, \"r4\": $r4, \"rr\": $rr}"
}
: >"$work/v.jsonl"; : >"$work/p.jsonl"
for ((i = 0; i < REPS; i++)); do
    if ((i % 2 == 0)); then run_vbench >>"$work/v.jsonl"; run_peers >>"$work/p.jsonl"
    else run_peers >>"$work/p.jsonl"; run_vbench >>"$work/v.jsonl"; fi
    echo "net-compare: repetition $((i + 1))/$REPS done" >&2
done
report=$(python3 - "$work/v.jsonl" "$work/p.jsonl" "$SECONDS_PER" "$REPS" <<'PY'
import json, math, random, sys, statistics, platform, os
v = [json.loads(l) for l in open(sys.argv[1])]
p = [json.loads(l) for l in open(sys.argv[2])]
secs, reps = sys.argv[3:5]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
print(f"net: vbench vs iperf3 3.12 / sockperf 3.7 on 127.0.0.1, {secs} s per test, {reps} alternating repetitions; "
      f"CPU {cpu}, kernel {platform.release()}, {os.cpu_count()} CPUs")
print()
print("| test | vbench (median) | peer (median) | ratio | paired ratio [95 % CI] |")
print("|---|---:|---:|---:|---:|")

def paired(ratios):
    # Geometric mean of the per-repetition ratios (vbench and its peer ran back to back in each)
    # and a seeded 95 % bootstrap interval: repetitions are the unit, not the seconds inside one.
    logs = [math.log(x) for x in ratios]
    rnd = random.Random(20261207)
    boot = sorted(statistics.fmean(rnd.choices(logs, k=len(logs))) for _ in range(10000))
    return math.exp(statistics.fmean(logs)), math.exp(boot[249]), math.exp(boot[9749])

rows = [("stream -P 1 (Gbit/s), vs iperf3", "p1", 1e9), ("stream -P 4 (Gbit/s), vs iperf3", "p4", 1e9),
        ("stream -P 1 receiving (Gbit/s), vs iperf3 -R", "r1", 1e9), ("stream -P 4 receiving (Gbit/s), vs iperf3 -R", "r4", 1e9),
        ("request/response 14 B (transactions/s), vs sockperf ping-pong", "rr", 1)]
for name, k, scale in rows:
    a = statistics.median(r[k] for r in v); b = statistics.median(r[k] for r in p)
    fmt = (lambda x: f"{x/scale:.2f}") if scale != 1 else (lambda x: f"{x:.0f}")
    g, lo, hi = paired([x[k] / y[k] for x, y in zip(v, p)])
    print(f"| {name} | {fmt(a)} | {fmt(b)} | {a/b:.3f} | {g:.3f} [{lo:.3f}, {hi:.3f}] |")
PY
)
echo "$report"
[[ -z "$OUT" ]] || echo "$report" >"$OUT"
# Other machines' figures, as their result files recorded them.
for f in "$SCRIPT_DIR"/results-net-*.md; do
    [[ -f "$f" && "$(readlink -f "$f")" != "$(readlink -f "${OUT:-/nonexistent}")" ]] || continue
    echo
    echo "earlier: $(basename "$f"): $(grep -m1 '^net:' "$f" | sed 's/^net: //')"
    grep '^| stream\|^| request' "$f" || true
done
