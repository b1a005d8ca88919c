#!/usr/bin/env bash
# calibrate-compare.sh — how often `vbench compare` cries wolf and how often it catches a real
# slowdown, measured in real lab guests (TCG on the development machine):
#   A/A  identical unthrottled virtio-blk disks of one boot, compared pairwise: a flag (either
#        direction) is a false alarm;
#   A/B  an unthrottled disk against one QEMU limits (block_set_io_throttle, iops-total) to 90 %
#        and to 70 % of the IOPS a reference disk of the same boot just measured: a
#        "regression" verdict is a detection.
# Each boot has 8 disks (reference, two at 90 %, two at 70 %, three more unthrottled), measured
# round-robin PASSES times (1 repetition of randread 4 KiB QD32 each), so drift inside a boot
# falls on every disk alike; compare gets one sample per pass. aio=threads: with aio=native,
# QEMU 7.2 left a throttled disk's requests stuck forever under TCG (the guest task hung in D
# state); with threads it did not. Then the kernel-upgrade flow:
# two Debian kernels, ROUNDS boots each, interleaved A B A B, through compare end to end.
#
# Compare takes runs as its samples: each pass of a disk is one record. --sizes "6 12 24" also
# judges every pair on the first k passes of each disk, to show what 10 % detection costs.
#
# Usage: Benchmarks/calibrate-compare.sh [--vbench PATH] [--boots 4] [--passes 6] [--sizes "6 12"] [--seconds 1]
#            [--kernels "6.1.0-47-amd64 6.1.0-56-amd64"] [--rounds 5] [--no-kernels] [--out FILE.md]
# Needs what `vbench lab` needs (qemu-system-x86, busybox-static, cpio, the kernel packages) and python3.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
VBENCH="$REPO_ROOT/.build-static/release/vbench" BOOTS=4 PASSES=6 SIZES="" SECS=1 KERNELS="6.1.0-47-amd64 6.1.0-56-amd64" ROUNDS=5 OUT="" DO_KERNELS=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --vbench) VBENCH=$2; shift 2 ;;
        --boots) BOOTS=$2; shift 2 ;;
        --passes) PASSES=$2; shift 2 ;;
        --sizes) SIZES=$2; shift 2 ;;
        --seconds) SECS=$2; shift 2 ;;
        --kernels) KERNELS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --no-kernels) DO_KERNELS=0; shift ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "calibrate-compare: unknown option $1 (see --help)" >&2; exit 64 ;;
    esac
done
[[ -n "$SIZES" ]] || SIZES=$PASSES
[[ -x "$VBENCH" ]] || { echo "calibrate-compare: no static vbench at $VBENCH (swift build -c release --scratch-path .build-static -Xswiftc -static-executable)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "calibrate-compare: needs python3" >&2; exit 1; }
work=$(mktemp -d /var/tmp/calibrate-compare.XXXXXX)
# The work folder (store, logs) is removed after a successful run and kept after a failure.
trap 'if [[ $? -eq 0 ]]; then rm -rf "$work"; else echo "calibrate-compare: failed; store and logs kept in $work" >&2; fi' EXIT
store="$work/vbench.sqlite"
started=$(date +%s)

cat >"$work/throttle.json" <<EOF
{"name":"calibrate","disks":["virtio-blk","virtio-blk","virtio-blk","virtio-blk","virtio-blk","virtio-blk","virtio-blk","virtio-blk"],
 "diskSizeMiB":64,"aio":"threads","rw":"randread","bs":"4k","iodepth":32,"runtimeSeconds":$SECS,"repetitions":1,"passes":$PASSES,
 "vsockLoopback":false,"throttle":{"reference":0,"disks":{"1":0.9,"2":0.9,"3":0.7,"4":0.7}}}
EOF
echo "calibrate-compare: $BOOTS boots of 8 disks x $PASSES passes (TCG)" >&2
"$VBENCH" lab run --matrix "$work/throttle.json" --rounds "$BOOTS" --accel tcg --no-native --binary "$VBENCH" \
    --store "$store" --out "$work" --timeout 7200 2>"$work/lab.log" >"$work/lab.out" || { tail -20 "$work/lab.log" >&2; exit 1; }
run=$(sed -n 's/.*lab run \([0-9A-Za-z-]*\): matrix.*/\1/p' "$work/lab.log" | head -1)
[[ -n "$run" ]] || { echo "calibrate-compare: no lab run id in $work/lab.log" >&2; exit 1; }
grep -h "throttled disk" "$work/lab.log" >&2 || true

# Every pair of every boot through compare, on the first k passes of each disk (k in SIZES:
# what catching a 10 % slowdown costs in passes), JSON out; python tallies.
"$VBENCH" runs export --store "$store" --tag "lab.run=$run" --tag lab.phase=measure --format json >"$work/measure.json"
python3 - "$work/measure.json" "$work/sub" $SIZES <<'PY'
import json, os, sys
records, out, sizes = json.load(open(sys.argv[1])), sys.argv[2], [int(k) for k in sys.argv[3:]]
for r in records:
    t = r["tags"]
    for k in sizes:
        if int(t["lab.pass"]) < k:
            d = f"{out}/b{t['lab.boot']}-s{t['lab.slot']}-k{k}"
            os.makedirs(d, exist_ok=True)
            json.dump(r, open(f"{d}/{r['runId']}.json", "w"))
PY
: >"$work/pairs.tsv"
unthrottled="0 5 6 7"
for k in $SIZES; do
for ((b = 0; b < BOOTS; b++)); do
    pair() {  # kind baseline-slot candidate-slot
        local code=0
        "$VBENCH" compare "$work/sub/b$b-s$2-k$k" "$work/sub/b$b-s$3-k$k" --metric iops --format json >"$work/c.json" 2>"$work/c.err" || code=$?
        if [[ $code -ne 0 && $code -ne 2 ]]; then echo "calibrate-compare: compare exited $code:" >&2; cat "$work/c.err" >&2; exit 1; fi
        python3 - "$1" "$b" "$2" "$3" "$code" "$work/c.json" "$k" >>"$work/pairs.tsv" <<'PY'
import json, sys
kind, boot, base, cand, code, path, k = sys.argv[1:]
item = json.load(open(path))["items"][0]
print("\t".join([kind, boot, base, cand, code, item["verdict"], repr(item.get("change")), repr((item.get("test") or {}).get("pValue")), k,
                 repr(item.get("detectableChange"))]))
PY
    }
    for a in $unthrottled; do for c in $unthrottled; do [[ $a -lt $c ]] && pair AA "$a" "$c"; done; done
    for a in $unthrottled; do
        for t in 1 2; do pair AB10 "$a" "$t"; done
        for t in 3 4; do pair AB30 "$a" "$t"; done
    done
done
done

python3 - "$work/pairs.tsv" "$BOOTS" "$PASSES" "$run" >"$work/report.md" <<'PY'
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
boots, passes, run = sys.argv[2], sys.argv[3], sys.argv[4]
print(f"### compare calibration ({boots} boots, 8 virtio-blk disks, up to {passes} passes of 1 repetition, lab run {run}; TCG)\n")
print("Runs are the samples: each pass of a disk is one record. k = passes used a side (the first k of each disk).\n")
print("| k | comparison | n | flagged | too few | rate | realized change (median, range) | detectable (median) |")
print("|---:|---|---:|---:|---:|---:|---|---:|")
for k in sorted({int(x[8]) for x in rows}):
    for kind, label in [("AA", "A/A (identical disks): false alarms"), ("AB10", "A/B limit 90 %: detections"), ("AB30", "A/B limit 70 %: detections")]:
        r = [x for x in rows if x[0] == kind and int(x[8]) == k]
        if not r: continue
        bad = ("regression", "improvement") if kind == "AA" else ("regression",)
        flagged = [x for x in r if x[5] in bad]
        few = [x for x in r if x[5] == "too-few-runs"]
        ch = [float(x[6]) * 100 for x in r if x[6] != "None"]
        det = [float(x[9]) * 100 for x in r if x[9] != "None"]
        print(f"| {k} | {label} | {len(r)} | {len(flagged)} | {len(few)} | {100 * len(flagged) / len(r):.1f} % | {statistics.median(ch):+.1f} % ({min(ch):+.1f} … {max(ch):+.1f}) | {('±%.1f %%' % statistics.median(det)) if det else '-'} |")
print("\nPairs share disks within a boot, so they are not independent; boots are.")
PY
cat "$work/report.md"

if ((DO_KERNELS)); then
    read -r KA KB <<<"$KERNELS"
    cat >"$work/kernels.json" <<EOF
{"name":"kernels","disks":["virtio-blk"],"diskSizeMiB":64,"rw":"randread","bs":"4k","iodepth":32,
 "runtimeSeconds":$SECS,"repetitions":3,"vsockLoopback":false}
EOF
    echo "calibrate-compare: kernel flow, $KA vs $KB, $ROUNDS boots each, interleaved" >&2
    "$VBENCH" lab run --matrix "$work/kernels.json" --kernel "$KA" --kernel "$KB" --rounds "$ROUNDS" --accel tcg --no-native \
        --binary "$VBENCH" --store "$store" --out "$work" --timeout 7200 2>"$work/lab2.log" >"$work/lab2.out" || { tail -20 "$work/lab2.log" >&2; exit 1; }
    krun=$(sed -n 's/.*lab run \([0-9A-Za-z-]*\): matrix.*/\1/p' "$work/lab2.log" | head -1)
    [[ -n "$krun" ]] || { echo "calibrate-compare: no lab run id in $work/lab2.log" >&2; exit 1; }
    code=0
    "$VBENCH" compare "lab.kernel=$KA" "lab.kernel=$KB" --tag "lab.run=$krun" --format markdown --store "$store" >"$work/kernels.md" || code=$?
    { echo; echo "### kernel upgrade: $KA → $KB ($ROUNDS boots each, interleaved; lab run $krun; TCG)"; echo
      echo "\`vbench compare lab.kernel=$KA lab.kernel=$KB --tag lab.run=$krun\` exited $code:"; echo
      sed 's/^## /#### /' "$work/kernels.md"; } >>"$work/report.md"
    sed 's/^## /#### /' "$work/kernels.md"
    echo "compare exit: $code"
fi
{ echo; echo "Machine: $(uname -r), $(nproc) CPUs, $(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -1); QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'); took $(( $(date +%s) - started )) s."
  echo "Command: Benchmarks/calibrate-compare.sh --boots $BOOTS --passes $PASSES --sizes \"$SIZES\" --seconds $SECS$([[ $DO_KERNELS = 1 ]] && echo " --kernels \"$KERNELS\" --rounds $ROUNDS" || echo " --no-kernels")"; } >>"$work/report.md"
if [[ -n "$OUT" ]]; then cp "$work/report.md" "$OUT"; echo "calibrate-compare: wrote $OUT" >&2; fi
