#!/usr/bin/env bash
# fio-compare.sh — run vbench and Debian's fio on the same file and the same jobs, alternating,
# and print how vbench compares (IOPS, CPU seconds per IO, p50 completion latency).
#
# Usage: Benchmarks/fio-compare.sh [--vbench PATH] [--dir DIR] [--size 1g] [--runtime 5]
#                                  [--reps 5] [--engine libaio|io_uring] [--out FILE.md]
#
# Jobs (all O_DIRECT, one job, --runtime seconds measured after a 1 s ramp):
#   A  4 KiB random read, QD32
#   B  4 KiB random read, QD1
#   C  1 MiB sequential read, QD8
# With --engine libaio (default) each repetition runs, for every job, vbench, fio with default
# options and fio with batching options (--iodepth_batch_submit=QD --iodepth_batch_complete_min=1
# --iodepth_batch_complete_max=QD). With --engine io_uring: vbench --engine io_uring, fio's
# io_uring engine with its defaults, and with --fixedbufs --registerfiles. The variant that goes
# first rotates every repetition.
# The test file is created once (by vbench, which writes every block), read by both tools,
# and removed on exit. Nothing is ever written to a block device.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

VBENCH=""
DIR=/var/tmp
SIZE=1g
RUNTIME=5
REPS=5
OUT=""
RAMP=1
ENGINE=libaio

usage() {
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() { echo "fio-compare: $*" >&2; exit 1; }
say() { echo "fio-compare: $*" >&2; }

while [[ $# -gt 0 ]]; do
    opt=$1
    case "$opt" in
        --*=*) val=${opt#*=}; opt=${opt%%=*}; shift ;;
        -h|--help) usage; exit 0 ;;
        --*) [[ $# -ge 2 ]] || die "$opt needs a value"; val=$2; shift 2 ;;
        *) die "unexpected argument '$opt' (see --help)" ;;
    esac
    case "$opt" in
        --vbench) VBENCH=$val ;;
        --dir) DIR=$val ;;
        --size) SIZE=$val ;;
        --runtime) RUNTIME=$val ;;
        --reps) REPS=$val ;;
        --out) OUT=$val ;;
        --engine) ENGINE=$val ;;
        *) die "unknown option $opt (see --help)" ;;
    esac
done

# ---- checks -------------------------------------------------------------------------------
if ! command -v fio >/dev/null 2>&1; then
    echo "fio is not installed; install it with:" >&2
    echo "apt-get install -y fio" >&2
    exit 1
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed to read the JSON results"
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) is needed"

[[ $RUNTIME =~ ^[1-9][0-9]*$ ]] || die "--runtime must be a whole number of seconds ≥ 1; got '$RUNTIME'"
[[ $ENGINE == libaio || $ENGINE == io_uring ]] || die "--engine must be libaio or io_uring; got '$ENGINE'"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "--reps must be a whole number ≥ 1; got '$REPS'"
[[ ${SIZE,,} =~ ^[1-9][0-9]*[kmgt]?$ ]] || die "--size must be a size such as 256m or 1g; got '$SIZE'"
(( REPS >= 5 )) || say "warning: --reps $REPS is below 5; medians over so few runs are rough"

[[ -d $DIR ]] || die "--dir $DIR is not a directory"
DIR=$(cd "$DIR" && pwd -P)
case "$DIR/" in
    /dev/*|/proc/*|/sys/*|/run/*) die "--dir $DIR: pick a folder on a real filesystem (e.g. /var/tmp)" ;;
esac
[[ -w $DIR ]] || die "--dir $DIR is not writable"
if [[ -n $OUT ]]; then
    out_parent=$(dirname "$OUT")
    [[ -d $out_parent && -w $out_parent ]] || die "--out $OUT: folder $out_parent does not exist or is not writable"
fi

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
LOAD1=${LOAD_START%% *}

if [[ -z $VBENCH ]]; then
    [[ -f $REPO_ROOT/Package.swift ]] || die "no Package.swift in $REPO_ROOT; pass --vbench PATH"
    say "building vbench: (cd $REPO_ROOT && swift build -c release --scratch-path .build-bench)"
    if ! (cd "$REPO_ROOT" && timeout 3600 swift build -c release --scratch-path .build-bench >&2); then
        die "swift build failed; fix the build or pass --vbench PATH"
    fi
    VBENCH=$REPO_ROOT/.build-bench/release/vbench
fi
[[ -x $VBENCH ]] || die "vbench at '$VBENCH' is not an executable file"
VBENCH=$(cd "$(dirname "$VBENCH")" && pwd)/$(basename "$VBENCH")

# ---- scratch space and the test file -------------------------------------------------------
TMP=$(mktemp -d /tmp/fio-compare.XXXXXX)
FILE=$(mktemp -u "$DIR/fio-compare.XXXXXX.dat")
cleanup() {
    local rc=$?
    [[ -n ${FILE:-} && -f $FILE ]] && rm -f -- "$FILE"
    [[ -n ${TMP:-} && -d $TMP ]] && rm -rf -- "$TMP"
    exit "$rc"
}
trap cleanup EXIT
# A signal stops the run in progress at once (timeout passes it on), then cleanup runs.
CHILD=""
on_signal() {
    [[ -n $CHILD ]] && kill -TERM "$CHILD" 2>/dev/null
    exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# run_bounded SECONDS STDOUT STDERR COMMAND... — runs COMMAND in $TMP under timeout.
run_bounded() {
    local limit=$1 out=$2 err=$3 rc=0
    shift 3
    (cd "$TMP" && exec timeout --kill-after=10 "$limit" "$@") >"$out" 2>"$err" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

RUN_TIMEOUT=$((RUNTIME + RAMP + 60))

# The file is created and filled by vbench (every block written, so reads hit real extents);
# --keep leaves it in place. It is created with O_DIRECT writes and an fsync.
CREATE_CMD=("$VBENCH" run --runs 1 --device blk --target "$FILE" --size "$SIZE" --rw read --bs 1m --iodepth 8
            --runtime 1 --repeat 1 --ramp 0 --keep --json --out "$TMP/create")
say "creating $FILE ($SIZE) with vbench"
if ! run_bounded 1800 "$TMP/create.json" "$TMP/create.err" "${CREATE_CMD[@]}"; then
    cat "$TMP/create.err" >&2
    die "vbench could not create the test file"
fi
[[ -f $FILE ]] || die "vbench finished but $FILE does not exist (did --keep work?)"
FILE_BYTES=$(stat -c %s "$FILE")
(( FILE_BYTES >= 1048576 )) || die "$FILE is only $FILE_BYTES bytes"
FS_TYPE=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["target"].get("filesystem") or "unknown")' \
          "$TMP/create.json" 2>/dev/null || stat -f -c %T "$FILE" 2>/dev/null || echo unknown)

# ---- the python helpers ---------------------------------------------------------------------
cat >"$TMP/parse.py" <<'PY'
# parse.py TOOL JSONFILE BS QD -> "iops cpu_s ios cpu_s_per_io p50_ns mean_lat_ns"  (or an error on stderr, exit 1)
import json, sys
tool, path, bs, qd = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
text = open(path).read()
if tool == "fio":
    # fio may print warnings before the JSON object.
    text = text[text.index("{"):] if "{" in text else text
d = json.loads(text)
def fail(msg):
    print(msg, file=sys.stderr); sys.exit(1)
if tool == "vbench":
    w = d["workloads"][0]
    spec = w["spec"]
    if spec["blockSizeBytes"] != bs or spec["ioDepth"] != qd:
        fail(f"vbench ran bs={spec['blockSizeBytes']} qd={spec['ioDepth']}, expected bs={bs} qd={qd}")
    if not d.get("target", {}).get("direct", False):
        fail("vbench record says the target was not opened with O_DIRECT")
    r = w["repetitions"][0]
    ops = r["readOps"]
    if ops <= 0:
        fail("vbench completed no reads")
    cpu = (r["cpuUserNs"] + r["cpuSystemNs"]) / 1e9
    iops = r["metrics"]["iops"]
    # The repetition's metrics carry its percentiles (record schema 2 keeps the histogram only).
    p50 = r["metrics"].get("latP50Ns", float("nan"))
    mean = r["metrics"].get("latMeanNs", float("nan"))
else:
    j = d["jobs"][0]
    if j.get("error", 0):
        fail(f"fio job error {j['error']}")
    rd = j["read"]
    ops = rd["total_ios"]
    if ops <= 0:
        fail("fio completed no reads")
    # total_ios counts IOs issued while measuring, io_bytes bytes completed while measuring: the
    # IOs in flight when the ramp ends make them differ by up to the queue depth.
    if abs(rd["io_bytes"] / bs - ops) > 2 * qd + 1:
        fail(f"fio read {rd['io_bytes']} bytes in {ops} IOs, expected bs={bs}")
    cpu = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * j["job_runtime"] / 1000.0
    iops = rd["iops"]
    # --lat_percentiles=1: percentiles of submission + completion, what vbench measures.
    p50 = rd.get("lat_ns", {}).get("percentile", {}).get("50.000000")
    if p50 is None:
        p50 = rd["clat_ns"].get("percentile", {}).get("50.000000", float("nan"))
    mean = rd.get("lat_ns", {}).get("mean", float("nan"))  # slat + clat
print(f"{iops:.3f} {cpu:.6f} {ops} {cpu / ops:.9e} {p50} {mean:.1f}")
PY

cat >"$TMP/report.py" <<'PY'
# report.py RESULTS.tsv REPS -> the Markdown tables and the verdict
import math, random, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
reps = int(sys.argv[2])
# variants: "key:label,key:label,…", vbench first
VARS = [tuple(v.split(":", 1)) for v in sys.argv[3].split(",")]
JOBS = [("A", "4 KiB random read, QD32"), ("B", "4 KiB random read, QD1"), ("C", "1 MiB sequential read, QD8")]
# rows: job variant rep iops cpu_s ios cpu_per_io p50_ns mean_lat_ns  (iops == "NA" when the run failed)
data = {}
for job, var, rep, iops, cpu, ios, cpio, p50, mean in rows:
    if iops == "NA":
        continue
    data.setdefault((job, var), []).append(
        dict(rep=int(rep), iops=float(iops), cpio=float(cpio), p50=float(p50), mean=float(mean)))

def med(xs): return statistics.median(xs) if xs else math.nan
def fmt_int(x): return "–" if math.isnan(x) else f"{x:,.0f}"
def fmt(x, d=2): return "–" if math.isnan(x) else f"{x:.{d}f}"
def rng(xs, f): return f"{f(min(xs))}–{f(max(xs))}" if xs else "–"

def paired(ratios):
    """Geometric mean of per-repetition ratios and its 95 % bootstrap interval (repetitions are
    the unit: each ran back to back with its peer; seeded, so a report reads the same twice)."""
    if len(ratios) < 3:
        return math.nan, math.nan, math.nan
    logs = [math.log(r) for r in ratios]
    rnd = random.Random(20261207)
    boot = sorted(statistics.fmean(rnd.choices(logs, k=len(logs))) for _ in range(10000))
    return math.exp(statistics.fmean(logs)), math.exp(boot[249]), math.exp(boot[9749])

out = []
verdict = []
complete = True
for job, title in JOBS:
    out.append(f"### Job {job}: {title}")
    out.append("")
    out.append("| tool | runs | IOPS median | IOPS min–max | CPU µs/IO median | CPU µs/IO min–max | p50 lat µs median | p50 µs min–max |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    meds = {}
    for var, label in VARS:
        runs = data.get((job, var), [])
        if len(runs) < reps:
            complete = False
        iops = [r["iops"] for r in runs]
        cpio = [r["cpio"] * 1e6 for r in runs]
        p50 = [r["p50"] / 1e3 for r in runs if not math.isnan(r["p50"])]
        meanlat = [r["mean"] / 1e3 for r in runs if not math.isnan(r["mean"])]
        meds[var] = (med(iops), med(cpio), med(p50), med(meanlat))
        out.append(f"| {label} | {len(runs)}/{reps} | {fmt_int(med(iops))} | {rng(iops, fmt_int)} | "
                   f"{fmt(med(cpio))} | {rng(cpio, fmt)} | {fmt(med(p50), 1)} | {rng(p50, lambda v: fmt(v, 1))} |")
    fio_vars = [v for v, _ in VARS[1:] if not math.isnan(meds[v][0])]
    if math.isnan(meds["vbench"][0]) or not fio_vars:
        out.append("")
        out.append("Ratios: not available (runs failed).")
        out.append("")
        verdict.append(f"{job}: no data")
        complete = False
        continue
    best = max(fio_vars, key=lambda v: meds[v][0])
    iops_ratio = meds["vbench"][0] / meds[best][0]
    cpu_ratio = meds["vbench"][1] / meds[best][1]
    # Paired ratios: the runs of one repetition ran back to back.
    vb = {r["rep"]: r for r in data.get((job, "vbench"), [])}
    fb = {r["rep"]: r for r in data.get((job, best), [])}
    pr_iops = [vb[k]["iops"] / fb[k]["iops"] for k in vb if k in fb]
    pr_cpu = [vb[k]["cpio"] / fb[k]["cpio"] for k in vb if k in fb]
    best_label = dict(VARS)[best]
    out.append("")
    out.append(f"| vbench / best fio ({best_label}) | ratio of medians | per-repetition ratios min–max |")
    out.append("|---|---:|---:|")
    out.append(f"| IOPS (≥ 1.00 wanted) | {iops_ratio:.3f} | {rng(pr_iops, lambda v: f'{v:.3f}')} |")
    out.append(f"| CPU s per IO (≤ 1.00 wanted) | {cpu_ratio:.3f} | {rng(pr_cpu, lambda v: f'{v:.3f}')} |")
    g, lo, hi = paired(pr_iops)
    out.append(f"| IOPS, paired: geometric mean of the per-repetition ratios [95 % bootstrap CI] | {fmt(g, 3)} [{fmt(lo, 3)}, {fmt(hi, 3)}] | |")
    if job == "B":
        names = " / ".join(label for _, label in VARS)
        out.append(f"| p50 latency µs: {names} | " + " / ".join(fmt(meds[v][2], 1) for v, _ in VARS) + " | |")
        out.append(f"| mean latency µs (fio: slat+clat): {names} | " + " / ".join(fmt(meds[v][3], 1) for v, _ in VARS) + " | |")
    out.append("")
    ok_i = iops_ratio >= 1.0
    ok_c = cpu_ratio <= 1.0
    # A ratio under 1 whose paired interval holds 1 is level within the noise, not behind.
    level = "" if ok_i or math.isnan(lo) else (f" (level: paired CI [{lo:.3f}, {hi:.3f}] holds 1.00)" if lo <= 1.0 <= hi
                                               else f" (behind: paired CI [{lo:.3f}, {hi:.3f}])")
    verdict.append(f"{job}: IOPS {iops_ratio:.3f} {'ok' if ok_i else 'FAIL'}{level}, CPU/IO {cpu_ratio:.3f} {'ok' if ok_c else 'FAIL'}")
    if not (ok_i and ok_c):
        verdict.append("!")

holds = complete and "!" not in verdict
detail = "; ".join(v for v in verdict if v != "!")
if not complete:
    out.append(f"**Goals: undetermined** — some runs failed or are missing ({detail}).")
else:
    out.append(f"**Goals {'hold' if holds else 'do NOT hold'}** (vbench/best-fio IOPS ≥ 1.00 and CPU per IO ≤ fio's for every job): {detail}.")
out.append("")
out.append("<details><summary>Every run</summary>")
out.append("")
out.append("| rep | order | job | tool | IOPS | CPU µs/IO | p50 µs | IOs |")
out.append("|---:|---:|---|---|---:|---:|---:|---:|")
order = {}
for i, (job, var, rep, *_rest) in enumerate(rows):
    order.setdefault((rep, job), []).append(var)
for job, var, rep, iops, cpu, ios, cpio, p50, mean in rows:
    pos = order[(rep, job)].index(var) + 1
    if iops == "NA":
        out.append(f"| {int(rep) + 1} | {pos} | {job} | {var} | failed | | | |")
    else:
        out.append(f"| {int(rep) + 1} | {pos} | {job} | {var} | {float(iops):,.0f} | {float(cpio) * 1e6:.2f} | "
                   f"{float(p50) / 1e3:.1f} | {int(ios):,} |")
out.append("")
out.append("</details>")
print("\n".join(out))
sys.exit(0 if holds else 2)
PY

# ---- the jobs -------------------------------------------------------------------------------
JOB_IDS=(A B C)
declare -A JOB_RW=([A]=randread [B]=randread [C]=read)
declare -A JOB_BS=([A]=4k [B]=4k [C]=1m)
declare -A JOB_BSB=([A]=4096 [B]=4096 [C]=1048576)
declare -A JOB_QD=([A]=32 [B]=1 [C]=8)
if [[ $ENGINE == io_uring ]]; then
    VARIANTS=(vbench fio-uring fio-uring-fixed)
    VARIANT_LABELS="vbench:vbench (io_uring),fio-uring:fio io_uring (default),fio-uring-fixed:fio io_uring (fixedbufs registerfiles)"
else
    VARIANTS=(vbench fio-default fio-batched)
    VARIANT_LABELS="vbench:vbench,fio-default:fio (default),fio-batched:fio (batched)"
fi

# Fills CMD with the command of one variant of one job.
build_cmd() {
    local job=$1 var=$2 out=$3
    local rw=${JOB_RW[$job]} bs=${JOB_BS[$job]} qd=${JOB_QD[$job]}
    case "$var" in
        vbench)
            CMD=("$VBENCH" run --runs 1 --device blk --target "$FILE" --rw "$rw" --bs "$bs" --iodepth "$qd"
                 --runtime "$RUNTIME" --ramp "$RAMP" --repeat 1 --json --out "$out" --engine "$ENGINE") ;;
        fio-*)
            local fio_engine=libaio
            [[ $var == fio-uring* ]] && fio_engine=io_uring
            CMD=(fio --name=j --filename="$FILE" --direct=1 --ioengine="$fio_engine" --rw="$rw" --bs="$bs"
                 --iodepth="$qd" --runtime="$RUNTIME" --ramp_time="$RAMP" --time_based --size="$FILE_BYTES"
                 --norandommap --randrepeat=0 --lat_percentiles=1 --output-format=json)
            if [[ $var == fio-batched ]]; then
                CMD+=(--iodepth_batch_submit="$qd" --iodepth_batch_complete_min=1
                      --iodepth_batch_complete_max="$qd")
            fi
            if [[ $var == fio-uring-fixed ]]; then CMD+=(--fixedbufs --registerfiles); fi ;;
    esac
}

# ---- header ---------------------------------------------------------------------------------
CPU_MODEL=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
[[ -n $CPU_MODEL ]] || CPU_MODEL=$(uname -m)
quote_cmd() { local s="" a; for a in "$@"; do s+="$(printf '%q' "$a") "; done; echo "${s% }"; }
{
    echo "## vbench vs fio ($ENGINE) — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo ""
    echo "- kernel: $(uname -r); CPU: $CPU_MODEL; nproc: $(nproc); load average at start: $LOAD_START"
    echo "- fio: $(fio --version 2>/dev/null); vbench: $("$VBENCH" --version 2>/dev/null || echo '?') ($VBENCH)"
    echo "- test file: $FILE, $FILE_BYTES bytes ($SIZE), filesystem $FS_TYPE, created by vbench"
    echo "- $REPS repetitions × 3 jobs × 3 variants; ${RUNTIME} s measured after a ${RAMP} s ramp; first variant rotates each repetition"
    echo "- every run wrapped in \`timeout --kill-after=10 $RUN_TIMEOUT\`; CPU per IO = (user+sys CPU of the I/O thread) / IOs completed while measuring"
    echo "- latency is submission + completion for both: fio's lat (--lat_percentiles=1), vbench's from just before io_submit to the reap"
    echo ""
    echo "Commands (TMP = a scratch folder):"
    echo ""
    echo '```'
    echo "# create: $(quote_cmd "${CREATE_CMD[@]}" | sed "s#$TMP#TMP#g")"
    for job in "${JOB_IDS[@]}"; do
        for var in "${VARIANTS[@]}"; do
            build_cmd "$job" "$var" "$TMP/vb"
            echo "# $job $var: $(quote_cmd "${CMD[@]}" | sed "s#$TMP#TMP#g")"
        done
    done
    echo '```'
    echo ""
} >"$TMP/header.md"
cat "$TMP/header.md"

if python3 -c "import sys; sys.exit(0 if float('$LOAD1') > 0.5 * $(nproc) else 1)"; then
    say "warning: load average $LOAD1 on $(nproc) CPUs: other work competes with the benchmark"
fi

# ---- the runs -------------------------------------------------------------------------------
: >"$TMP/results.tsv"
FAILED=0
for ((rep = 0; rep < REPS; rep++)); do
    for job in "${JOB_IDS[@]}"; do
        for ((k = 0; k < 3; k++)); do
            var=${VARIANTS[$(((rep + k) % 3))]}
            tag="r$rep-$job-$var"
            build_cmd "$job" "$var" "$TMP/vb-$tag"
            tool=fio; [[ $var == vbench ]] && tool=vbench
            rc=0
            run_bounded "$RUN_TIMEOUT" "$TMP/$tag.json" "$TMP/$tag.err" "${CMD[@]}" || rc=$?
            line=""
            if (( rc == 0 )); then
                line=$(python3 "$TMP/parse.py" "$tool" "$TMP/$tag.json" "${JOB_BSB[$job]}" "${JOB_QD[$job]}" 2>>"$TMP/$tag.err") || rc=$?
            fi
            if (( rc != 0 )) || [[ -z $line ]]; then
                FAILED=$((FAILED + 1))
                say "rep $((rep + 1))/$REPS job $job $var FAILED (exit $rc$( ((rc == 124)) && echo ', timed out')):"
                tail -n 5 "$TMP/$tag.err" | sed 's/^/    /' >&2
                printf '%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\n' "$job" "$var" "$rep" >>"$TMP/results.tsv"
                continue
            fi
            read -r iops cpu ios cpio p50 meanlat <<<"$line"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$job" "$var" "$rep" "$iops" "$cpu" "$ios" "$cpio" "$p50" "$meanlat" >>"$TMP/results.tsv"
            say "$(python3 -c 'import sys; r, n, j, v, i, c, p = sys.argv[1:]
print(f"rep {r}/{n} job {j} {v:<11} {float(i):10.0f} IOPS {float(c) * 1e6:8.2f} µs CPU/IO  p50 {float(p) / 1e3:8.1f} µs")' \
                "$((rep + 1))" "$REPS" "$job" "$var" "$iops" "$cpio" "$p50")"
        done
    done
done

# ---- report ---------------------------------------------------------------------------------
report_rc=0
python3 "$TMP/report.py" "$TMP/results.tsv" "$REPS" "$VARIANT_LABELS" >"$TMP/tables.md" || report_rc=$?
(( report_rc == 0 || report_rc == 2 )) || die "could not build the report (python exit $report_rc)"
cat "$TMP/tables.md"
if [[ -n $OUT ]]; then
    cat "$TMP/header.md" "$TMP/tables.md" >"$OUT"
    say "report written to $OUT"
fi
if (( FAILED > 0 )); then say "$FAILED run(s) failed; see the messages above"; exit 1; fi
exit 0
