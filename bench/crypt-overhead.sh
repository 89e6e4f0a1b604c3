#!/bin/sh
# Overhead of encryption at rest: the product build against the benchmark-only
# plaintext build (-tags benchplaintext), in one run, in ABBA order so drift
# of the shared machine falls on both builds alike.
#
#   bench/crypt-overhead.sh OUT_DIR [PAIRS]
#
# Phase 1: PAIRS ingest-only runs of each build (fresh data directory each).
# Phase 2: PAIRS read+search runs of each build on the data of its last ingest.
# Every run's report is OUT_DIR/{ingest,query}-{enc,plain}-N.{txt,json}; the
# server logs (OUT_DIR/*.log) end with the data-key cache counters.
set -eu
out=${1:?usage: crypt-overhead.sh OUT_DIR [PAIRS]}
pairs=${2:-4}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HESTIA_KEY_DIR="$work/keys"

go build -o "$work/hestia-enc" ./cmd/hestia
go build -tags benchplaintext -o "$work/hestia-plain" ./cmd/hestia
go build -o "$work/bench" ./bench

run() { # phase build n extra-flags...
	phase=$1 v=$2 n=$3
	shift 3
	"$work/bench" -server-cmd "$work/hestia-$v serve --data $work/data-$v --listen 127.0.0.1:8443" \
		-data-dir "$work/data-$v" -server-log "$out/$phase-$v-$n.log" \
		-json "$out/$phase-$v-$n.json" "$@" >"$out/$phase-$v-$n.txt" 2>&1
}

. "$(dirname "$0")/abba.sh"

n=1
while [ "$n" -le "$pairs" ]; do
	for v in $(abba "$n" enc plain); do
		rm -rf "$work/data-$v"
		bench_client "$work/hestia-$v" "$work/data-$v"
		sync
		sleep 1
		run ingest "$v" "$n" -phases ingest -ingest-c 8
		echo "ingest $v $n: $(grep -m1 'wall' "$out/ingest-$v-$n.txt")"
	done
	n=$((n + 1))
done

n=1
while [ "$n" -le "$pairs" ]; do
	for v in $(abba "$n" enc plain); do
		bench_client "$work/hestia-$v" "$work/data-$v"
		sleep 1
		run query "$v" "$n" -phases read,search -c 1,16 -duration 4s -warmup 1s
		echo "query $v $n: done"
	done
	n=$((n + 1))
done
