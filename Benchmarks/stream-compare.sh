#!/usr/bin/env bash
# stream-compare.sh — vbench's STREAM kernels against a C reference of the same kernels
# (Benchmarks/stream/stream-ref.c, gcc -O3 -march=native -fopenmp), same array size, same
# threads, same iterations, alternating which goes first, REPS repetitions; prints the best
# bytes/s of each side per kernel and the ratio vbench / C (goal: ≥ 0.95 each).
#
# Usage: Benchmarks/stream-compare.sh [--vbench PATH] [--size 256m] [--threads N] [--ntimes 10]
#                                     [--reps 5] [--out FILE.md]
# PATH defaults to a release build of this checkout (built if missing).
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
VBENCH="" SIZE=256m THREADS=$(nproc) NTIMES=10 REPS=5 OUT=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --vbench) VBENCH=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --ntimes) NTIMES=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "stream-compare: unknown option $1 (see --help)" >&2; exit 64 ;;
    esac
done
command -v gcc >/dev/null || { echo "stream-compare: needs gcc (apt-get install -y gcc)" >&2; exit 1; }
if [[ -z "$VBENCH" ]]; then
    (cd "$REPO_ROOT" && swift build -c release 2>&1 | grep -v '^\[' >&2) || true
    VBENCH=$(cd "$REPO_ROOT" && swift build -c release --show-bin-path)/vbench
fi
work=$(mktemp -d /var/tmp/stream-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT
gcc -O3 -march=native -fopenmp "$SCRIPT_DIR/stream/stream-ref.c" -o "$work/stream-ref" -lm
bytes=$(python3 -c "import sys; s=sys.argv[1].lower(); u={'k':1<<10,'m':1<<20,'g':1<<30}; print(int(s[:-1])*u[s[-1]] if s[-1] in u else int(s))" "$SIZE")
elements=$((bytes / 8))
export OMP_NUM_THREADS=$THREADS OMP_PROC_BIND=close OMP_PLACES=threads  # thread i on CPU i, as vbench pins

run_c() { timeout 600 "$work/stream-ref" "$elements" "$NTIMES"; }
run_v() {
    timeout 600 "$VBENCH" run --runs 1 --device mem --size "$SIZE" --threads "$THREADS" --repeat "$NTIMES" --json --out "$work/vb" 2>/dev/null |
        python3 -c "
import json, sys
r = json.load(sys.stdin)
best = {w['spec']['test']: max(rep['metrics']['bwBytesPerSec'] for rep in w['repetitions'])
        for w in r['workloads'] if w['spec'].get('test') in ('copy', 'scale', 'add', 'triad')}
print(json.dumps(best))"
}
: >"$work/c.jsonl"; : >"$work/v.jsonl"
for ((i = 0; i < REPS; i++)); do
    if ((i % 2 == 0)); then run_v >>"$work/v.jsonl"; run_c >>"$work/c.jsonl"
    else run_c >>"$work/c.jsonl"; run_v >>"$work/v.jsonl"; fi
    echo "stream-compare: repetition $((i + 1))/$REPS done" >&2
done
report=$(python3 - "$work/c.jsonl" "$work/v.jsonl" "$SIZE" "$THREADS" "$NTIMES" "$REPS" <<'PY'
import json, sys, statistics, platform, os
c = [json.loads(l) for l in open(sys.argv[1])]
v = [json.loads(l) for l in open(sys.argv[2])]
size, threads, ntimes, reps = sys.argv[3:7]
print(f"STREAM: vbench vs C reference (gcc -O3 -march=native -fopenmp), arrays {size} each, {threads} threads, "
      f"NTIMES {ntimes}, {reps} alternating repetitions; kernel {platform.release()}, {os.cpu_count()} CPUs")
print()
print("| kernel | vbench best GB/s (median of reps) | C best GB/s (median of reps) | ratio |")
print("|---|---:|---:|---:|")
for k in ("copy", "scale", "add", "triad"):
    vb = statistics.median(r[k] for r in v); cb = statistics.median(r[k] for r in c)
    print(f"| {k} | {vb/1e9:.2f} | {cb/1e9:.2f} | {vb/cb:.3f} |")
PY
)
echo "$report"
[[ -z "$OUT" ]] || echo "$report" >"$OUT"
