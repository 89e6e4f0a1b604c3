#!/bin/sh
# Cost of the audit trail: the product build against the benchmark-only
# build that records nothing (-tags benchnoaudit), in one run, in ABBA order
# so drift of the shared machine falls on both builds alike.
#
#   bench/audit-overhead.sh OUT_DIR [PAIRS] [PHASES]
#
# One ingest (product build) fills a data directory; each build then serves
# its own copy of it for PAIRS runs of PHASES (default read,search) at 1 and
# 16 clients. Reports: OUT_DIR/{audit,noaudit}-N.{txt,json}, server logs
# OUT_DIR/*.log.
set -eu
out=${1:?usage: audit-overhead.sh OUT_DIR [PAIRS] [PHASES]}
pairs=${2:-4}
phases=${3:-read,search}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HESTIA_KEY_DIR="$work/keys"

go build -o "$work/hestia-audit" ./cmd/hestia
go build -tags benchnoaudit -o "$work/hestia-noaudit" ./cmd/hestia
go build -o "$work/bench" ./bench

"$work/bench" -server-cmd "$work/hestia-audit serve --data $work/data --listen 127.0.0.1:8443" \
	-data-dir "$work/data" -server-log "$out/ingest.log" -phases ingest -ingest-c 8 >"$out/ingest.txt" 2>&1
echo "ingest: $(grep -m1 'wall' "$out/ingest.txt")"
cp -a "$work/data" "$work/data-audit"
cp -a "$work/data" "$work/data-noaudit"

. "$(dirname "$0")/abba.sh"

n=1
while [ "$n" -le "$pairs" ]; do
	for v in $(abba "$n" audit noaudit); do
		sleep 1
		"$work/bench" -server-cmd "$work/hestia-$v serve --data $work/data-$v --listen 127.0.0.1:8443" \
			-data-dir "$work/data-$v" -server-log "$out/$v-$n.log" -json "$out/$v-$n.json" \
			-phases "$phases" -c 1,16 -duration 4s -warmup 1s >"$out/$v-$n.txt" 2>&1
		echo "$v $n: done"
	done
	n=$((n + 1))
done
