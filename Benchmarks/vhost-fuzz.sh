#!/usr/bin/env bash
# The vhost-user-vsock device fuzzed (Benchmarks/Sources/vhost-fuzz): builds vhost-fuzz
# (release), runs it for N inputs from one seed under a time limit, and prints the machine, the
# exact command, the fuzzer's figures (inputs, accepted and rejected per part, inputs/s, wall
# time, CPU model) and how it ended. A crash (SIGSEGV on a guard page, SIGBUS, a Swift trap)
# kills the fuzzer with its signal, a broken invariant exits 1, a hang trips its watchdog: any
# of them is a failure here. "0 crashes" in the output is printed by the fuzzer only when it
# finished.
#
#   Benchmarks/vhost-fuzz.sh [--inputs N] [--seed S] [--part codec|rings|vsock|socket] [--timeout SECONDS]
#
# Exit codes: 0 finished with 0 crashes, 1 the fuzzer failed (or did not build), 64 usage.
set -euo pipefail
cd "$(dirname "$0")/.."
inputs=1000000
seed=1
part=""
limit=3600
while [ $# -gt 0 ]; do
    case "$1" in
        --inputs) inputs=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --part) part=$2; shift 2 ;;
        --timeout) limit=$2; shift 2 ;;
        -h|--help) sed -n 2,12p "$0"; exit 0 ;;
        *) echo "vhost-fuzz.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
done
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, kernel $(uname -r); $(date -u +%FT%TZ)"
log=$(mktemp /var/tmp/vhost-fuzz-build.XXXXXX)
if ! timeout 3000 swift build -c release --package-path Benchmarks --product vhost-fuzz >"$log" 2>&1; then
    echo "vhost-fuzz.sh: the build failed; see $log" >&2
    tail -n 20 "$log" >&2
    exit 1
fi
rm -f "$log"
bin="$(swift build -c release --package-path Benchmarks --show-bin-path)/vhost-fuzz"
cmd=("$bin" --inputs "$inputs" --seed "$seed")
[ -n "$part" ] && cmd+=(--part "$part")
echo "command: ${cmd[*]}"
start=$(date +%s%N)
set +e
timeout "$limit" "${cmd[@]}"
status=$?
set -e
took=$(( ($(date +%s%N) - start) / 1000000 ))
printf 'exit status %d after %d.%03d s\n' "$status" $((took / 1000)) $((took % 1000))
case $status in
    0) exit 0 ;;
    124) echo "vhost-fuzz.sh: FAILED: no end within ${limit} s" >&2 ;;
    1) echo "vhost-fuzz.sh: FAILED: an invariant broke (see above)" >&2 ;;
    *) if [ "$status" -gt 128 ]; then echo "vhost-fuzz.sh: FAILED: the fuzzer was killed by signal $((status - 128)) (a crash)" >&2
       else echo "vhost-fuzz.sh: FAILED with exit status $status" >&2; fi ;;
esac
exit 1
