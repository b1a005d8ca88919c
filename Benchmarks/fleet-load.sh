#!/usr/bin/env bash
# Fleet load and fault benchmark: C real `vbench collect` processes (one per simulated
# hypervisor host, --host-label hv-N) writing into one private PostgreSQL, S senders per
# collector (ingest-bench --to …, each sender one connection per record, as a guest after a run).
#   1. load:  records/s, ack latency, and a count in the database (0 lost, 0 stored twice)
#   2. fault: the same, with PostgreSQL crashed (pg_ctl restart -m immediate) mid-ingest
# Usage: Benchmarks/fleet-load.sh [--collectors 4] [--senders-per-collector 128] [--records 10]
#        [--out Benchmarks/results-fleet-DATE.md]
set -euo pipefail
cd "$(dirname "$0")/.."
collectors=4 per=128 records=10 out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --collectors) collectors=$2; shift 2 ;;
        --senders-per-collector) per=$2; shift 2 ;;
        --records) records=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n 2,9p "$0"; exit 0 ;;
        *) echo "fleet-load: unknown option $1" >&2; exit 64 ;;
    esac
done
export PATH="$PATH:/opt/swift/usr/bin"
echo "building vbench and ingest-bench (release)" >&2
swift build -c release --product vbench 2>&1 | grep -E "error|warning: unre" || true
swift build -c release --package-path Benchmarks --product ingest-bench 2>&1 | grep -E "error" || true
vbench=$(swift build -c release --show-bin-path)/vbench
bench=$(swift build -c release --package-path Benchmarks --show-bin-path)/ingest-bench

work=$(mktemp -d /tmp/vbench-fleet.XXXXXX)
chmod 711 "$work"  # the PostgreSQL server runs as another user
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    scripts/pg-cluster stop "$work/pg" fast >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
scripts/pg-cluster start "$work/pg" >/dev/null
source "$work/pg/env"
export PGPASSWORD=$VBENCH_TEST_PG_PASSWORD
port=${VBENCH_TEST_PG_URL##*:}; port=${port%%/*}
sql() { timeout 60 psql -X -q -h 127.0.0.1 -p "$port" -U vbench -d vbench -tAc "$1"; }
senders=$((collectors * per))
total=$((senders * records))

start_collectors() {
    pids=()
    local eps=()
    for i in $(seq 1 "$collectors"); do
        timeout 1800 "$vbench" collect --store "$VBENCH_TEST_PG_URL" --listen "unix:$work/c$i.sock" --host-label "hv-$i" \
            --max-connections $((per * 8)) > "$work/collect-$i.log" 2>&1 &
        pids+=($!)
        eps+=("unix:$work/c$i.sock")
    done
    for i in $(seq 1 "$collectors"); do
        for _ in $(seq 1 100); do [ -S "$work/c$i.sock" ] && break; sleep 0.1; done
    done
    endpoints=$(IFS=,; echo "${eps[*]}")
}
stop_collectors() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}

phase() {  # phase NAME FAULT(0|1)
    start_collectors  # the first collectors to start create the schema (migrations under an advisory lock)
    sql "TRUNCATE runs, environments, devices CASCADE" >/dev/null
    if [ "$2" = 1 ]; then
        # The crash: once a quarter of the records are in the database.
        ( for _ in $(seq 1 3000); do
              n=$(sql "SELECT count(*) FROM runs" 2>/dev/null || echo 0)
              if [ "${n:-0}" -ge $((total / 4)) ]; then
                  echo "$n" > "$work/crash-at"
                  scripts/pg-cluster restart "$work/pg" immediate >/dev/null; exit 0
              fi
              sleep 0.05
          done ) &
        crasher=$!
    fi
    line=$(timeout 1200 "$bench" --to "$endpoints" --senders "$senders" --records "$records" | tail -1) || true
    [ "$2" = 1 ] && wait "$crasher" || true
    stop_collectors
    stored=$(sql "SELECT count(*) FROM runs")
    distinct=$(sql "SELECT count(DISTINCT run_id) FROM runs")
    hosts=$(sql "SELECT string_agg(collector_host || '=' || n, ' ' ORDER BY collector_host) FROM (SELECT collector_host, count(*) n FROM runs GROUP BY 1) t")
    rate=$(echo "$line" | awk -F'|' '{gsub(/ /,"",$7); print $7}')
    failed=$(echo "$line" | awk -F'|' '{gsub(/ /,"",$6); print $6}')
    p50=$(echo "$line" | awk -F'|' '{printf "%.0f", $8}')
    p99=$(echo "$line" | awk -F'|' '{printf "%.0f", $9}')
    crash=""
    [ "$2" = 1 ] && crash="crash after $(cat "$work/crash-at" 2>/dev/null || echo '?') stored"
    echo "| $1 | $collectors × $per | $total | $((total - failed)) | $failed | $stored | $((total - stored)) | $((stored - distinct)) | $rate | $p50 | $p99 | $hosts${crash:+; $crash} |"
}

{
    echo "# Fleet load: $collectors collectors × $per senders into one PostgreSQL"
    echo
    echo "Command: \`Benchmarks/fleet-load.sh --collectors $collectors --senders-per-collector $per --records $records\`"
    echo "Machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r);"
    echo "PostgreSQL $(sql 'SHOW server_version') (private cluster on 127.0.0.1, default settings, fsync on), $(date -u +%Y-%m-%dT%H:%MZ)."
    echo "Each sender sends its records one per connection and waits for the ack (sent after the commit)."
    echo
    echo "| phase | collectors × senders | sent | acked | not acked | in database | lost | stored twice | records/s | ack p50 ms | ack p99 ms | per host |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    phase load 0
    phase "fault (crash mid-ingest)" 1
} > "${out:-/dev/stdout}"
if [ -n "$out" ]; then cat "$out"; fi
