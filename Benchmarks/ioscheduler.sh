#!/usr/bin/env bash
# What a guest I/O scheduler costs on a paravirtual disk, measured: one lab guest with a
# virtio-blk disk runs 4 KiB random reads under `none` and under `mq-deadline` (vbench run
# --ioscheduler), the order reversed every other pass, at queue depth 1 and 32; then
# `vbench compare` with the passes as the samples. The guest runs under TCG on a machine
# without usable KVM: read the figures as a ratio, labelled TCG.
#
#   Benchmarks/ioscheduler.sh [--passes N] [--runtime S] [--vbench PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
vbench=.build-static/release/vbench
passes=6
runtime=3
while (($#)); do
    case "$1" in
        --passes) passes=$2; shift 2 ;;
        --runtime) runtime=$2; shift 2 ;;
        --vbench) vbench=$2; shift 2 ;;
        *) echo "ioscheduler.sh: unknown option $1 (--passes N, --runtime S, --vbench PATH)" >&2; exit 64 ;;
    esac
done
[ -x "$vbench" ] || { echo "ioscheduler.sh: no static vbench at $vbench; build it with: swift build -c release --scratch-path .build-static -Xswiftc -static-executable --product vbench" >&2; exit 1; }
out=$(mktemp -d /var/tmp/vbench-iosched.XXXXXX)
store=$out/store.sqlite
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, kernel $(uname -r); $(date -u +%FT%TZ)"
echo "work: $out"
for qd in 1 32; do
    cat > "$out/matrix-qd$qd.json" <<JSON
{"name": "iosched-qd$qd", "disks": ["virtio-blk"], "rw": "randread", "bs": "4k", "iodepth": $qd,
 "runtimeSeconds": $runtime, "repetitions": 1, "passes": $passes, "ioschedulers": ["none", "mq-deadline"],
 "vsockLoopback": false}
JSON
    echo
    echo "== 4k randread QD$qd: $passes passes x {none, mq-deadline}, $runtime s each, one guest (TCG)"
    timeout 1800 "$vbench" lab run --matrix "$out/matrix-qd$qd.json" --binary "$vbench" --accel tcg --no-native \
        --store "$store" --out "$out/lab-qd$qd" --tag bench=iosched-qd$qd >"$out/lab-qd$qd.log" 2>&1 \
        || { echo "lab run failed; see $out/lab-qd$qd.log" >&2; tail -n 20 "$out/lab-qd$qd.log" >&2; exit 1; }
    for metric in iops latP99Ns; do
        # Exit 2 is a verdict (mq-deadline worse), not a failure of this script.
        "$vbench" compare lab.ioscheduler=none lab.ioscheduler=mq-deadline --tag bench=iosched-qd$qd \
            --tag lab.phase=measure --metric $metric --store "$store" || [ $? -eq 2 ]
    done
done
