#!/usr/bin/env bash
# Where the guest binary's bytes go, against the floor any static Swift command-line tool pays.
#
#   Benchmarks/guest-size.sh [--guest PATH]
#
# Builds, static and stripped, in a scratch folder:
#   hello      print("hello"): the Swift runtime, the standard library and static glibc;
#   json       hello + one FoundationEssentials.JSONEncoder().encode: what any JSON coding,
#              FileManager or date formatting through FoundationEssentials pulls in;
#   argparser  one ParsableCommand with one option, on the swift-argument-parser vbench uses:
#              ArgumentParser encodes `--experimental-dump-help` with JSONEncoder, so every
#              ArgumentParser tool pays the `json` bytes too;
# and prints them beside the guest binary (scripts/guest-binary, unless --guest names one).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
guest=""
while [ $# -gt 0 ]; do
    case "$1" in
        --guest) guest=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "guest-size: unknown option $1 (see --help)" >&2; exit 64 ;;
    esac
done
work=$(mktemp -d /tmp/vbench-guest-size.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ -z "$guest" ]; then
    guest=$work/vbench-guest
    scripts/guest-binary "$guest" >/dev/null
fi
[ -f "$guest" ] || { echo "guest-size: no file $guest" >&2; exit 1; }
ap=$PWD/.build-static/checkouts/swift-argument-parser
[ -d "$ap" ] || { echo "guest-size: no $ap (scripts/guest-binary fetches it)" >&2; exit 1; }

build() { # name source
    printf '%s\n' "$2" > "$work/$1.swift"
    timeout 600 swiftc -O -static-executable "$work/$1.swift" -o "$work/$1" 2>&1 | grep -v "statically linked\|mktemp" || true
    strip "$work/$1"
}
build hello 'print("hello \(CommandLine.arguments.count)")'
build json 'import FoundationEssentials
struct S: Codable { var a: Int; var s: String }
print(try! JSONEncoder().encode(S(a: 1, s: "x")).count)'

mkdir -p "$work/ap/Sources/floor"
cat > "$work/ap/Package.swift" <<EOF
// swift-tools-version:5.9
import PackageDescription
let package = Package(name: "floor",
  dependencies: [.package(path: "$ap")],
  targets: [.executableTarget(name: "floor", dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")])])
EOF
cat > "$work/ap/Sources/floor/main.swift" <<'EOF'
import ArgumentParser
struct Floor: ParsableCommand {
    @Option var name: String = "x"
    func run() { print("hello \(name)") }
}
Floor.main()
EOF
(cd "$work/ap" && timeout 1200 swift build -c release -Xswiftc -static-executable 2>&1 | grep "error:" || true)
strip -o "$work/argparser" "$work/ap/.build/release/floor"

mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e6 }'; }
h=$(stat -c %s "$work/hello"); j=$(stat -c %s "$work/json"); a=$(stat -c %s "$work/argparser"); g=$(stat -c %s "$guest")
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(swift --version 2>&1 | head -1)"
echo
echo "| binary (static, stripped) | bytes | MB | over the one before |"
echo "|---|---:|---:|---:|"
echo "| hello | $h | $(mb "$h") | |"
echo "| hello + JSONEncoder | $j | $(mb "$j") | +$(mb $((j - h))) |"
echo "| one-option ArgumentParser command | $a | $(mb "$a") | +$(mb $((a - j))) |"
echo "| vbench-guest | $g | $(mb "$g") | +$(mb $((g - a))) |"
