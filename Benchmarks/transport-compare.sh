#!/usr/bin/env bash
# Guest-to-host transport, measured: in each boot of one lab guest, the same kind of records go
# over AF_VSOCK to CID 2 (the collector's vhost-user-vsock device, or vhost-vsock on a host
# with /dev/vhost-vsock) and over a virtio-serial port of the same guest, to the same collector:
# small records for records/s, large ones for MB/s (one `vbench send` each, timed by the
# guest's /proc/uptime). Each boot is one sample; the script prints every boot's figures and the
# median ratio over boots. The figures include the per-record work on both ends (JSON
# validation in the guest and in the collector, one SQLite transaction per record), the same
# for both transports. The guest runs under TCG on a machine without usable KVM: read the
# figures as a ratio, labelled TCG.
#
#   Benchmarks/transport-compare.sh [--boots N] [--records N] [--record-kib K] [--large N] [--large-mib M] [--vbench PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
vbench=.build-static/release/vbench
boots=3 records=100 recordkib=16 large=4 largemib=4
while (($#)); do
    case "$1" in
        --boots) boots=$2; shift 2 ;;
        --records) records=$2; shift 2 ;;
        --record-kib) recordkib=$2; shift 2 ;;
        --large) large=$2; shift 2 ;;
        --large-mib) largemib=$2; shift 2 ;;
        --vbench) vbench=$2; shift 2 ;;
        *) echo "transport-compare.sh: unknown option $1 (--boots N, --records N, --record-kib K, --large N, --large-mib M, --vbench PATH)" >&2; exit 64 ;;
    esac
done
[ -x "$vbench" ] || { echo "transport-compare.sh: no static vbench at $vbench; build it with: swift build -c release --scratch-path .build-static -Xswiftc -static-executable --product vbench" >&2; exit 1; }
out=$(mktemp -d /var/tmp/vbench-transport.XXXXXX)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, kernel $(uname -r); $(date -u +%FT%TZ)"
echo "work: $out"
cat > "$out/matrix.json" <<JSON
{"name": "transport", "disks": ["virtio-blk"], "diskSizeMiB": 16, "rw": "randread", "bs": "4k", "iodepth": 1,
 "runtimeSeconds": 0.5, "repetitions": 1, "vsockLoopback": false, "memoryMiB": 1024,
 "transportBenchmark": {"records": $records, "recordKiB": $recordkib, "largeRecords": $large, "largeMiB": $largemib}}
JSON
echo "== $boots boots (TCG); each: $records records of $recordkib KiB, then $large of $largemib MiB, per transport"
timeout $((boots * 900 + 300)) "$vbench" lab run --matrix "$out/matrix.json" --binary "$vbench" --accel tcg --no-native --rounds "$boots" \
    --store "$out/store.sqlite" --out "$out" --boot-timeout 900 --timeout $((boots * 900 + 200)) --tag bench=transport >"$out/lab.log" 2>&1 \
    || { echo "lab run failed; see $out/lab.log" >&2; tail -n 20 "$out/lab.log" >&2; exit 1; }
grep -E "transport bench|collected over" "$out/lab.log" | sed 's/^vbench: //'
echo
# Per boot and size: vsock rate / serial rate; the median over boots.
awk '
    / transport bench [^ ]+ (small|large): [0-9]+ records/ {
        match($0, /boot [0-9]+/); b = substr($0, RSTART + 5, RLENGTH - 5)
        for (i = 1; i <= NF; i++) if ($i == "bench") { t = $(i + 1); s = $(i + 2); sub(":", "", s) }
        for (i = 1; i <= NF; i++) if ($i == "in") secs = $(i + 1)
        key = b SUBSEP s
        if (t == "virtio-serial") serial[key] = secs; else { vsock[key] = secs; name = t }
    }
    function median(a, n,   i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        split("small large", sizes, " ")
        for (k = 1; k <= 2; k++) {
            n = 0
            for (key in vsock) { split(key, p, SUBSEP); if (p[2] == sizes[k] && (key in serial) && vsock[key] > 0) r[++n] = serial[key] / vsock[key] }
            if (n) printf "%s records: %s / virtio-serial = %.2fx the rate (median of %d boots, TCG)\n", sizes[k], name, median(r, n), n
            delete r
        }
    }' "$out/lab.log"
