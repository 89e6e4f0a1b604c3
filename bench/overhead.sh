#!/bin/sh
# Cost of a security feature: the product build against a benchmark-only
# build without it, in one run, in ABBA order so drift of the shared machine
# falls on both builds alike.
#
#   bench/overhead.sh TAG OUT_DIR [PAIRS] [PHASES]
#
# TAG is the build tag of the comparison build: benchnoaudit (records
# nothing) or benchnoauth (checks no access token). One ingest (product
# build) fills a data directory; each build then serves its own copy of it
# for PAIRS runs of PHASES (default read,search) at 1 and 16 clients.
# Reports: OUT_DIR/{product,TAG}-N.{txt,json}, server logs OUT_DIR/*.log.
set -eu
tag=${1:?usage: overhead.sh TAG OUT_DIR [PAIRS] [PHASES]}
out=${2:?usage: overhead.sh TAG OUT_DIR [PAIRS] [PHASES]}
pairs=${3:-4}
phases=${4:-read,search}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HESTIA_KEY_DIR="$work/keys"

go build -o "$work/hestia-product" ./cmd/hestia
go build -tags "$tag" -o "$work/hestia-$tag" ./cmd/hestia
go build -o "$work/bench" ./bench

. "$(dirname "$0")/abba.sh"
bench_client "$work/hestia-product" "$work/data" # copied with the data: both builds know it

"$work/bench" -server-cmd "$work/hestia-product serve --data $work/data --listen 127.0.0.1:8443" \
	-data-dir "$work/data" -server-log "$out/ingest.log" -phases ingest -ingest-c 8 >"$out/ingest.txt" 2>&1
echo "ingest: $(grep -m1 'wall' "$out/ingest.txt")"
cp -a "$work/data" "$work/data-product"
cp -a "$work/data" "$work/data-$tag"

n=1
while [ "$n" -le "$pairs" ]; do
	for v in $(abba "$n" product "$tag"); do
		sleep 1
		"$work/bench" -server-cmd "$work/hestia-$v serve --data $work/data-$v --listen 127.0.0.1:8443" \
			-data-dir "$work/data-$v" -server-log "$out/$v-$n.log" -json "$out/$v-$n.json" \
			-phases "$phases" -c 1,16 -duration 4s -warmup 1s >"$out/$v-$n.txt" 2>&1
		echo "$v $n: done"
	done
	n=$((n + 1))
done
