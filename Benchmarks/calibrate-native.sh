#!/usr/bin/env bash
# calibrate-native.sh — how often `vbench compare` cries wolf and how often it catches a real
# slowdown, on this machine itself (no guest), with runs as the sample unit. Each round makes
# four back-to-back groups of RUNS runs (`vbench run --runs RUNS`, a fresh process per run):
#   U1, U2  unthrottled;
#   T90     slowed to 90 % of what U1 and U2 just measured;
#   T75     slowed to 75 %.
# and compares, for every size n = 2 … RUNS (the first n runs of each group):
#   A/A          U1 against U2: any verdict but "unchanged"/"too few runs" is a false alarm;
#   history A/A  the U1 and U2 groups of the HISTORY rounds before against this round's U1 and U2,
#                as a kernel-upgrade check against history would (groups are the samples when
#                they differ beyond their runs); and the same with --drift linear;
#   history 10 %, 25 %  the T90 (T75) groups of this round and the one before against the
#                history before both;
#   10 %, 25 %   U2 against T90, U1 against T75: a "regression" verdict is a detection;
#   the same three with --sessions: how far a session shifts, learned from the unthrottled
#                sessions of up to HISTORY rounds before;
# Groups are never interleaved: A and B follow each other as they do around a reboot.
# Slowdowns touch only the processes this script starts:
#   blk  the cgroup I/O throttle on a child cgroup it creates (v1 blkio.throttle.read_iops_device
#        or v2 io.max riops) for the disk holding --target;
#   mem  a CPU quota on a child cgroup (v1 cpu.cfs_quota_us or v2 cpu.max), STREAM on 1 thread;
#   net  tc tbf on a veth pair between two network namespaces it creates, vbench serve in one.
# Everything it creates (cgroups, namespaces, qdiscs, files) is removed on exit.
#
# Usage: Benchmarks/calibrate-native.sh [--vbench PATH] [--families blk,mem,net] [--rounds 30]
#            [--runs 8] [--history 7] [--seconds 1] [--target DIR] [--out FILE.md] [--keep DIR]
#        Benchmarks/calibrate-native.sh --rejudge DIR [--out FILE.md]   (compare again, kept records)
# Needs root, python3 and iproute2.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
VBENCH="$REPO_ROOT/.build-static/release/vbench" FAMILIES="blk,mem,net" ROUNDS=30 RUNS=8 HISTORY=7 SECS=1 TARGET=/var/tmp OUT="" KEEP="" REJUDGE=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --vbench) VBENCH=$2; shift 2 ;;
        --families) FAMILIES=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --history) HISTORY=$2; shift 2 ;;
        --keep) KEEP=$2; shift 2 ;;
        --rejudge) REJUDGE=$2; shift 2 ;;
        --seconds) SECS=$2; shift 2 ;;
        --target) TARGET=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "calibrate-native: unknown option $1 (see --help)" >&2; exit 64 ;;
    esac
done
[[ -x "$VBENCH" ]] || { echo "calibrate-native: no vbench at $VBENCH (swift build -c release --scratch-path .build-static -Xswiftc -static-executable --product vbench, or --vbench PATH)" >&2; exit 1; }
[[ -n "$REJUDGE" || $(id -u) -eq 0 ]] || { echo "calibrate-native: needs root (child cgroups and network namespaces)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "calibrate-native: needs python3" >&2; exit 1; }
((ROUNDS >= 2 && RUNS >= 2)) || { echo "calibrate-native: --rounds and --runs must be at least 2" >&2; exit 64; }
VBENCH=$(readlink -f "$VBENCH")
started=$(date +%s)
if [[ -n "$REJUDGE" ]]; then
    # Compare again on records a run kept: its families, rounds and group size from its folders.
    [[ -d "$REJUDGE" ]] || { echo "calibrate-native: --rejudge $REJUDGE: no such folder" >&2; exit 64; }
    work=$(mktemp -d "$TARGET/calibrate-native.XXXXXX")
    for f in blk mem net; do [[ -d "$REJUDGE/$f" ]] && cp -rl "$REJUDGE/$f" "$work/$f"; done
    [[ -f "$REJUDGE/spread.tsv" ]] && cp "$REJUDGE/spread.tsv" "$work/spread.tsv"
    FAMILIES=$(cd "$work" && for f in blk mem net; do if [[ -d $f ]]; then echo "$f"; fi; done | paste -sd, -)
    ROUNDS=$(ls "$work/${FAMILIES%%,*}" | sed -n 's/^\([0-9]*\)-U1$/\1/p' | sort -n | tail -1); ROUNDS=$((ROUNDS + 1))
    RUNS=$(ls "$work/${FAMILIES%%,*}/0-U1/runs" | wc -l)
else
    work=$(mktemp -d "$TARGET/calibrate-native.XXXXXX")
fi
store="$work/vbench.sqlite"
tag=vbcal$$
CG_BLK="" CG_CPU="" NS_A="" NS_B="" SERVE_PID=""

cleanup() {
    local status=$?
    [[ -n "$SERVE_PID" ]] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    [[ -n "$NS_A" ]] && ip netns del "$NS_A" 2>/dev/null
    [[ -n "$NS_B" ]] && ip netns del "$NS_B" 2>/dev/null
    for cg in "$CG_BLK" "$CG_CPU"; do [[ -n "$cg" && -d "$cg" ]] && rmdir "$cg" 2>/dev/null; done
    if [[ -n "$KEEP" && -d "$work" ]]; then mkdir -p "$KEEP" && cp -rl "$work"/. "$KEEP"/ 2>/dev/null; echo "calibrate-native: records kept in $KEEP" >&2; fi
    if [[ $status -eq 0 ]]; then rm -rf "$work"; else echo "calibrate-native: failed; records and logs kept in $work" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- cgroups: v1 controllers where mounted, else the v2 hierarchy ---------------------------
cgroup_for() {  # controller (blkio|cpu) -> path of a new child group
    local v1=/sys/fs/cgroup/$1 v2=/sys/fs/cgroup want
    if [[ -d $v1 && -f $v1/cgroup.procs ]]; then mkdir "$v1/$tag"; echo "$v1/$tag"; return; fi
    want=$([[ $1 == blkio ]] && echo io || echo cpu)
    if [[ -f $v2/cgroup.subtree_control ]] && grep -qw "$want" "$v2/cgroup.subtree_control"; then mkdir "$v2/$tag"; echo "$v2/$tag"; return; fi
    echo "calibrate-native: no $1 controller (cgroup v1 /sys/fs/cgroup/$1, or v2 with $want enabled in /sys/fs/cgroup/cgroup.subtree_control)" >&2
    return 1
}
blk_limit() {  # cgroup dev iops|0
    if [[ -f $1/blkio.throttle.read_iops_device ]]; then echo "$2 $3" >"$1/blkio.throttle.read_iops_device"
    else echo "$2 riops=$([[ $3 == 0 ]] && echo max || echo "$3")" >"$1/io.max"; fi
}
cpu_limit() {  # cgroup fraction-of-one-cpu|0
    local quota
    quota=$(python3 -c "import sys; f=float(sys.argv[1]); print(-1 if f == 0 or f >= 1 else max(1000, int(f * 10000)))" "$2")
    if [[ -f $1/cpu.cfs_quota_us ]]; then echo -1 >"$1/cpu.cfs_quota_us"; echo 10000 >"$1/cpu.cfs_period_us"; echo "$quota" >"$1/cpu.cfs_quota_us"
    else echo "$([[ $quota == -1 ]] && echo max || echo "$quota") 10000" >"$1/cpu.max"; fi
}
in_cgroup() {  # cgroup command... : the command runs inside the group (and its children too)
    local cg=$1; shift
    sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

# --- the groups of runs ---------------------------------------------------------------------
measure() {  # family round kind: RUNS runs into $work/<family>/<round>-<kind>/
    local f=$1 r=$2 k=$3 dir="$work/$1/$2-$3"
    mkdir -p "$dir"
    local common=(--runs "$RUNS" --out "$dir" --store "$store" --tag "calib.family=$f" --tag "calib.round=$r" --tag "calib.kind=$k")
    case $f in
        blk) in_cgroup "$CG_BLK" "$VBENCH" run --target "$work/files" --size 256m --rw randread --bs 4k --iodepth 4 \
                 --runtime "$SECS" --ramp 0.2 --repeat 2 "${common[@]}" ;;
        mem) in_cgroup "$CG_CPU" "$VBENCH" run --device mem --test stream --threads 1 --repeat 10 "${common[@]}" ;;
        net) ip netns exec "$NS_A" "$VBENCH" run --device net --peer 10.78.0.2 --test stream --direction send --streams 1 \
                 --runtime "$SECS" --repeat 2 "${common[@]}" ;;
    esac >"$dir/out.log" 2>"$dir/err.log" || { echo "calibrate-native: $f round $r $k failed:" >&2; tail -5 "$dir/err.log" >&2; exit 1; }
}
# The headline metric of a family: workload, metric key, and what it is in words.
headline() {
    case $1 in
        blk) echo "randread-4k-qd4 iops" ;;
        mem) echo "stream-triad bwBytesPerSec" ;;
        net) echo "stream-send-p1-128k throughputBitsPerSec" ;;
    esac
}
mean_of() {  # family dir... : mean of the headline metric over the runs in the folders
    read -r wl metric <<<"$(headline "$1")"; shift
    python3 - "$wl" "$metric" "$@" <<'PY'
import glob, json, sys
wl, metric, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
means = []
for d in dirs:
    for f in glob.glob(d + "/runs/*.json"):
        r = json.load(open(f))
        for w in r["workloads"]:
            if w["spec"]["name"] == wl:
                v = [x["metrics"][metric] for x in w["repetitions"] if metric in x["metrics"]]
                if v: means.append(sum(v) / len(v))
print(sum(means) / len(means))
PY
}

setup_family() {
    case $1 in
        blk)
            mkdir -p "$work/files"
            local disk
            disk=$(lsblk -ndo PKNAME "$(findmnt -no SOURCE --target "$work/files")" 2>/dev/null || true)
            [[ -n "$disk" ]] || disk=$(basename "$(findmnt -no SOURCE --target "$work/files")")
            BLK_DEV=$(lsblk -ndo MAJ:MIN "/dev/$disk" | tr -d ' ')
            CG_BLK=$(cgroup_for blkio)
            echo "calibrate-native: blk on /dev/$disk ($BLK_DEV), cgroup $CG_BLK" >&2 ;;
        mem)
            CG_CPU=$(cgroup_for cpu)
            echo "calibrate-native: mem, cgroup $CG_CPU" >&2 ;;
        net)
            command -v tc >/dev/null || { echo "calibrate-native: net needs tc (iproute2)" >&2; exit 1; }
            NS_A=$tag-a NS_B=$tag-b
            ip netns add "$NS_A"; ip netns add "$NS_B"
            ip link add "${tag}a" netns "$NS_A" type veth peer name "${tag}b" netns "$NS_B"
            ip -n "$NS_A" addr add 10.78.0.1/30 dev "${tag}a"; ip -n "$NS_B" addr add 10.78.0.2/30 dev "${tag}b"
            for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
            ip -n "$NS_A" link set "${tag}a" up; ip -n "$NS_B" link set "${tag}b" up
            ip netns exec "$NS_B" "$VBENCH" serve --listen 10.78.0.2:5201 >"$work/serve.log" 2>&1 &
            SERVE_PID=$!
            sleep 1
            echo "calibrate-native: net over veth ${tag}a -> ${tag}b between namespaces $NS_A and $NS_B" >&2 ;;
    esac
}
# A slowdown is a setting of the limit, from what U1 and U2 just measured:
#   blk  read IOPS: fraction × measured IOPS (the throttle counts the requests vbench makes);
#   mem  a CPU quota of fraction × one CPU over a 10 ms period (fine enough that every STREAM
#        iteration is stretched alike; over 100 ms whole iterations escape it);
#   net  tbf at fraction × measured goodput × 1514/1448 (tbf counts Ethernet frames: 1514
#        bytes carry 1448 of TCP payload at MTU 1500 with timestamps). The unthrottled groups
#        run through a tbf too, at 100 Gbit/s, so every group pays the same qdisc.
apply_limit() {  # family setting (0: no limit)
    case $1 in
        blk) blk_limit "$CG_BLK" "$BLK_DEV" "$(python3 -c "import sys; print(max(0, round(float(sys.argv[1]))))" "$2")" ;;
        mem) cpu_limit "$CG_CPU" "$2" ;;
        net)
            local rate burst
            rate=$(python3 -c "import sys; s=float(sys.argv[1]); print(int(s) if s > 0 else 100 * 10**9)" "$2")
            # The bucket holds 10 ms at the rate (at least 1 MB), so GSO bursts of 64 KB pass.
            burst=$(python3 -c "import sys; print(max(1 << 20, int(int(sys.argv[1]) / 8 / 100)))" "$rate")
            ip netns exec "$NS_A" tc qdisc replace dev "${tag}a" root tbf rate "${rate}bit" burst "$burst" latency 50ms ;;
    esac
}
slow_down() {  # family fraction measured-mean round kind
    local setting
    case $1 in
        blk) setting=$(python3 -c "import sys; print(float(sys.argv[1]) * float(sys.argv[2]))" "$2" "$3") ;;
        mem) setting=$2 ;;
        net) setting=$(python3 -c "import sys; print(float(sys.argv[1]) * float(sys.argv[2]) * 1514 / 1448)" "$2" "$3") ;;
    esac
    apply_limit "$1" "$setting"
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$4" "$5" "$2" "$setting" >>"$work/settings.tsv"
}

# --- compare, on the first n runs of each group ---------------------------------------------
subset() {  # dir n -> a folder holding links to the group's first n records (by runs.index)
    local out="$work/subsets/$(basename "$(dirname "$1")")-$(basename "$1")-$2"
    if [[ ! -d $out ]]; then
        mkdir -p "$out"
        python3 - "$1" "$2" "$out" <<'PY'
import glob, json, os, sys
src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for f in glob.glob(src + "/runs/*.json"):
    if int(json.load(open(f))["tags"]["runs.index"]) < n:
        os.symlink(os.path.abspath(f), os.path.join(out, os.path.basename(f)))
PY
    fi
    echo "$out"
}
judge() {  # kind family round n baseline-dir... -- candidate-dir... [-- compare options]
    local kind=$1 f=$2 r=$3 n=$4; shift 4
    local base=() cand=() extra=()
    while [[ $1 != -- ]]; do base+=("$1"); shift; done; shift
    while [[ $# -gt 0 && $1 != --* ]]; do cand+=("$1"); shift; done
    extra=("$@")
    local bdir="$work/subsets/base-$kind-$f-$r-$n" cdir="$work/subsets/cand-$kind-$f-$r-$n"
    mkdir -p "$bdir" "$cdir"
    for d in "${base[@]}"; do ln -sf "$(subset "$d" "$n")"/*.json "$bdir"/ 2>/dev/null || true; done
    for d in "${cand[@]}"; do ln -sf "$(subset "$d" "$n")"/*.json "$cdir"/ 2>/dev/null || true; done
    read -r wl metric <<<"$(headline "$f")"
    local code=0
    "$VBENCH" compare "$bdir" "$cdir" --workload "$wl" --metric "$metric" --format json "${extra[@]}" \
        >"$work/c.json" 2>"$work/c.err" || code=$?
    if [[ $code -ne 0 && $code -ne 2 ]]; then echo "calibrate-native: compare exited $code:" >&2; cat "$work/c.err" >&2; exit 1; fi
    python3 - "$kind" "$f" "$r" "$n" "$code" "$work/c.json" >>"$work/pairs.tsv" <<'PY'
import json, sys
kind, f, r, n, code, path = sys.argv[1:]
i = json.load(open(path))["items"][0]
print("\t".join([kind, f, r, n, code, i["verdict"], repr(i.get("change")), repr((i.get("test") or {}).get("pValue")),
                 repr(i.get("detectableChange")), i.get("drift", "none"), i["sampleUnit"],
                 repr((i.get("groupSpread") or {}).get("icc"))]))
PY
}

: >"$work/pairs.tsv"
: >"$work/limits.tsv"
: >"$work/settings.tsv"
IFS=, read -ra fams <<<"$FAMILIES"
sizes=$(python3 -c "import sys; n=int(sys.argv[1]); print(' '.join(str(k) for k in [2,3,4,5,6,8,10,12,16,20,24,32] if k <= n) + ('' if n in [2,3,4,5,6,8,10,12,16,20,24,32] else ' %d' % n))" "$RUNS")
for f in "${fams[@]}"; do
    case $f in blk|mem|net) ;; *) echo "calibrate-native: unknown family $f (blk, mem, net)" >&2; exit 64 ;; esac
    [[ -n "$REJUDGE" ]] || setup_family "$f"
    t0=$(date +%s)
    for ((r = 0; r < ROUNDS; r++)); do
        if [[ -z "$REJUDGE" ]]; then
            apply_limit "$f" 0
            measure "$f" "$r" U1
            measure "$f" "$r" U2
            m=$(mean_of "$f" "$work/$f/$r-U1" "$work/$f/$r-U2")
            slow_down "$f" 0.9 "$m" "$r" T90; measure "$f" "$r" T90
            slow_down "$f" 0.75 "$m" "$r" T75; measure "$f" "$r" T75
            apply_limit "$f" 0
            printf '%s\t%s\t%s\n' "$f" "$r" "$m" >>"$work/limits.tsv"
        fi
        for n in $sizes; do
            judge AA "$f" "$r" "$n" "$work/$f/$r-U1" -- "$work/$f/$r-U2"
            judge D10 "$f" "$r" "$n" "$work/$f/$r-U2" -- "$work/$f/$r-T90"
            judge D25 "$f" "$r" "$n" "$work/$f/$r-U1" -- "$work/$f/$r-T75"
            if ((r >= 1)); then
                # The same, with how far a session shifts learned from the unthrottled sessions of up
                # to HISTORY rounds before (--sessions), as compare does from a store's history.
                sess="$work/subsets/sessions-$f-$r"
                if [[ ! -d $sess ]]; then
                    mkdir -p "$sess"
                    for ((h = r > HISTORY ? r - HISTORY : 0; h < r; h++)); do ln -sf "$work/$f/$h-U1"/runs/*.json "$work/$f/$h-U2"/runs/*.json "$sess"/; done
                fi
                judge AAS "$f" "$r" "$n" "$work/$f/$r-U1" -- "$work/$f/$r-U2" --sessions "$sess"
                judge D10S "$f" "$r" "$n" "$work/$f/$r-U2" -- "$work/$f/$r-T90" --sessions "$sess"
                judge D25S "$f" "$r" "$n" "$work/$f/$r-U1" -- "$work/$f/$r-T75" --sessions "$sess"
            fi
            if ((r >= HISTORY)); then
                hist=()
                for ((h = r - HISTORY; h < r; h++)); do hist+=("$work/$f/$h-U1" "$work/$f/$h-U2"); done
                judge HAA "$f" "$r" "$n" "${hist[@]}" -- "$work/$f/$r-U1" "$work/$f/$r-U2"
                judge HAL "$f" "$r" "$n" "${hist[@]}" -- "$work/$f/$r-U1" "$work/$f/$r-U2" --drift linear
            fi
            if ((r > HISTORY)); then
                # The slowed groups of this round and the one before, against the history before both.
                hist=()
                for ((h = r - HISTORY - 1; h < r - 1; h++)); do hist+=("$work/$f/$h-U1" "$work/$f/$h-U2"); done
                judge HD10 "$f" "$r" "$n" "${hist[@]}" -- "$work/$f/$((r - 1))-T90" "$work/$f/$r-T90"
                judge HD25 "$f" "$r" "$n" "${hist[@]}" -- "$work/$f/$((r - 1))-T75" "$work/$f/$r-T75"
            fi
        done
        echo "calibrate-native: $f round $((r + 1))/$ROUNDS done ($(( $(date +%s) - t0 )) s)" >&2
    done
    # The run-to-run spread of every unthrottled run of this family, for the model's runs-needed.
    read -r wl metric <<<"$(headline "$f")"
    [[ -f "$work/spread.tsv" ]] && grep -q "^$f"$'\t' "$work/spread.tsv" && continue
    python3 - "$f" "$wl" "$metric" "$work/$f" >>"$work/spread.tsv" <<'PY'
import glob, json, math, sys
f, wl, metric, root = sys.argv[1:]
groups = {}
for path in glob.glob(root + "/*-U[12]/runs/*.json"):
    r = json.load(open(path))
    for w in r["workloads"]:
        if w["spec"]["name"] == wl:
            v = [x["metrics"][metric] for x in w["repetitions"] if metric in x["metrics"]]
            groups.setdefault(path.split("/")[-3], []).append((sum(v) / len(v), v))
# CoV of run means within groups (pooled), and of repetitions within runs.
ss = df = 0.0; ssw = dfw = 0.0
for runs in groups.values():
    m = sum(x[0] for x in runs) / len(runs)
    ss += sum((x[0] / m - 1) ** 2 for x in runs); df += len(runs) - 1
    for mean, v in runs:
        ssw += sum((y / mean - 1) ** 2 for y in v); dfw += len(v) - 1
print(f"{f}\t{math.sqrt(ss / df)}\t{math.sqrt(ssw / dfw) if dfw else float('nan')}\t{sum(len(x) for x in groups.values())}")
PY
done

python3 - "$work/pairs.tsv" "$work/spread.tsv" "$ROUNDS" "$RUNS" "$HISTORY" >"$work/report.md" <<'PY'
import math, statistics, sys
from statistics import NormalDist
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
spread = {l.split("\t")[0]: l.rstrip("\n").split("\t")[1:] for l in open(sys.argv[2]) if l.strip()}
rounds, runs, history = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
goal = {"AA": ("≤", 0.01), "D10": ("≥", 0.95), "D25": ("≥", 0.99)}
hgoal = {"HAA": ("≤", 0.01), "HD10": ("≥", 0.95), "HD25": ("≥", 0.99)}
unit = {"blk": "randread 4 KiB QD4, IOPS", "mem": "STREAM triad, 1 thread, bandwidth", "net": "TCP stream, 1 connection, goodput"}
print(f"### compare calibration on the native machine ({rounds} rounds, groups of up to {runs} runs, never interleaved)\n")
print("Each cell: flagged of compared (rate); \"too few\" counts comparisons that gave no verdict. A/A count regressions and "
      "improvements as false alarms; the slowdowns count regressions as detections. Goals: A/A ≤ 1 %, 10 % ≥ 95 %, 25 % ≥ 99 %.\n")
def cell(kind, f, n):
    rs = [r for r in rows if r[0] == kind and r[1] == f and int(r[3]) == n]
    if not rs: return "-", None
    bad = ("regression", "improvement") if kind.startswith(("AA", "HAA", "HAL")) else ("regression",)
    k = sum(1 for r in rs if r[5] in bad)
    few = sum(1 for r in rs if r[5] == "too-few-runs")
    rate = k / len(rs)
    good = few == 0 and (rate <= 0.01 if kind.startswith(("AA", "HAA", "HAL")) else rate >= (0.95 if "10" in kind else 0.99))
    return f"{k}/{len(rs)} ({rate * 100:.0f} %)" + (f", {few} too few" if few else ""), good
def median_of(kind, f, n, col, scale=100):
    v = [float(r[col]) * scale for r in rows if r[0] == kind and r[1] == f and int(r[3]) == n and r[col] not in ("None", "nan")]
    return statistics.median(v) if v else None
designs = [("one session a side", ["AA", "D10", "D25"]),
           (f"one session a side, session shift learned from up to {history} rounds before (--sessions)", ["AAS", "D10S", "D25S"]),
           (f"history: {2 * history} sessions against 2 (groups are the samples)", ["HAA", "HD10", "HD25"])]
for f in [x for x in ["blk", "mem", "net"] if any(r[1] == x for r in rows)]:
    cov_run, cov_rep, nruns = spread.get(f, ["nan", "nan", "0"])
    print(f"#### {f}: {unit[f]}\n")
    print(f"Run-to-run CoV of the headline metric {float(cov_run) * 100:.1f} % (between repetitions inside a run: {float(cov_rep) * 100:.1f} %), from {nruns} unthrottled runs.\n")
    sizes = sorted({int(r[3]) for r in rows if r[1] == f})
    summary = []
    for title, kinds in designs:
        if not any(r[0] == kinds[0] and r[1] == f for r in rows): continue
        print(f"{title}:\n")
        print("| runs a side | A/A | 10 % caught | 25 % caught | detectable (A/A, median) | realized 10 % / 25 % |")
        print("|---:|---:|---:|---:|---:|---|")
        meets = None
        for n in sizes:
            cells = [cell(k, f, n) for k in kinds]
            det = median_of(kinds[0], f, n, 8)
            c10, c25 = median_of(kinds[1], f, n, 6), median_of(kinds[2], f, n, 6)
            real = f"{c10:+.1f} % / {c25:+.1f} %" if c10 is not None and c25 is not None else "-"
            print(f"| {n} | " + " | ".join(c for c, _ in cells) + f" | {('±%.1f %%' % det) if det is not None else '-'} | {real} |")
            if meets is None and all(g for _, g in cells): meets = n
        print()
        summary.append(f"{title}: {meets if meets else 'not within ' + str(runs)}")
    lin = [cell("HAL", f, n)[0] for n in sizes]
    if any(c != "-" for c in lin):
        print("History A/A with `--drift linear` instead: " + ", ".join(f"{n} runs {c}" for n, c in zip(sizes, lin)) + ".\n")
    z = NormalDist().inv_cdf
    def need(change, power, cov, alpha=0.01, thr=0.05):
        for n in range(5, 2001):
            se = cov * math.sqrt(2 / n)
            if max(z(1 - alpha / 2) * se, thr) + z(power) * se <= change: return n
        return None
    c = float(cov_run)
    n10, n25 = need(0.10, 0.95, c), need(0.25, 0.99, c)
    print("Runs a side at which every goal holds — " + "; ".join(summary) + ". "
          f"Model (normal approximation, run-to-run CoV {c * 100:.1f} %, no session shift, α = 0.01, 5 % threshold): 10 % at 95 % power needs {n10 or '>2000'} runs a side, 25 % at 99 % needs {n25 or '>2000'}.\n")
print("A/A pairs are the two unthrottled groups of one round (neighbours in time); rounds are independent. "
      "Intervals are wide at these counts: 0 of 30 has a 95 % Wilson upper bound of 11 %, 1 of 30 of 17 %.")
PY
cat "$work/report.md"
{ echo; echo "Machine: $(uname -r), $(nproc) CPUs, $(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -1); took $(( $(date +%s) - started )) s."
  echo "Command: Benchmarks/calibrate-native.sh --families $FAMILIES --rounds $ROUNDS --runs $RUNS --seconds $SECS"; } >>"$work/report.md"
cp "$work/pairs.tsv" "$work/report.pairs.tsv"
if [[ -n "$OUT" ]]; then cp "$work/report.md" "$OUT"; echo "calibrate-native: wrote $OUT" >&2; fi
