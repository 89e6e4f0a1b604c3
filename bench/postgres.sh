#!/bin/sh
# The load driver against Hestia on SQLite and on PostgreSQL, in one run on
# the same machine, and one PostgreSQL node against two on one database.
#
#   HESTIA_BENCH_POSTGRES=postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable \
#     bench/postgres.sh OUT_DIR [LIMIT]
#
# HESTIA_BENCH_POSTGRES is a database whose user may create databases (the
# script creates hestia_bench_sqlite_vs_pg and drops it at the end); .ci/postgres.sh
# starts such a server on loopback. LIMIT caps the Synthea patient bundles
# ingested (default: all). Reports: OUT_DIR/{sqlite,postgres,pg-1node,
# pg-2nodes-a,pg-2nodes-b}.{txt,json}, server logs OUT_DIR/*.log.
set -eu
out=${1:?usage: postgres.sh OUT_DIR [LIMIT]}
limit=${2:-0}
admin=${HESTIA_BENCH_POSTGRES:?set HESTIA_BENCH_POSTGRES to an admin database URL}
mkdir -p "$out"
work=$(mktemp -d)
db=hestia_bench_sqlite_vs_pg
pgurl=$(echo "$admin" | sed "s#/[^/?]*\(?\|\$\)#/$db\1#")
cleanup() {
	psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
export HESTIA_KEY_DIR="$work/keys"

go build -o "$work/hestia" ./cmd/hestia
go build -o "$work/bench" ./bench
. "$(dirname "$0")/abba.sh"

run() { # NAME SERVE_ARGS PHASES [more bench flags]
	name=$1 args=$2 phases=$3
	shift 3
	"$work/bench" -server-cmd "$work/hestia serve $args --listen 127.0.0.1:8443" \
		-server-log "$out/$name.log" -json "$out/$name.json" -phases "$phases" \
		-limit "$limit" -ingest-c 8 -c 1,16 -duration 5s -warmup 1s "$@" >"$out/$name.txt" 2>&1
	echo "$name: done"
}

# SQLite.
bench_client "$work/hestia" "$work/sqlite"
run sqlite "--data $work/sqlite" ingest,read,search -data-dir "$work/sqlite"

# PostgreSQL, one node.
psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
export HESTIA_STORAGE="$pgurl"
"$work/hestia" migrate >/dev/null
bench_client "$work/hestia" "$work/pg"
run postgres "--data $work/pg" ingest,read,search

# One node against two on the same database (same data): reads and
# searches at 16 clients in all; with two nodes, two drivers of 8 clients
# each, one per node, at once.
serve() { # PORT LOG: start a node, wait for its fingerprint, print it
	"$work/hestia" serve --data "$work/pg" --listen "127.0.0.1:$1" >"$2" 2>&1 &
	echo $! >>"$work/pids"
	i=0
	until grep -q 'fingerprint: ' "$2" 2>/dev/null; do
		i=$((i + 1)); [ "$i" -lt 300 ] || { echo "node on $1 did not start" >&2; exit 1; }
		sleep 0.1
	done
	sleep 1
	grep -m1 -o 'fingerprint: [0-9A-F:]*' "$2" | cut -d' ' -f2
}
drive() { # PORT FINGERPRINT NAME CLIENTS
	"$work/bench" -url "https://127.0.0.1:$1" -tls-fingerprint "$2" -json "$out/$3.json" \
		-phases read,search -c "$4" -duration 5s -warmup 1s >"$out/$3.txt" 2>&1
}
: >"$work/pids"
fa=$(serve 8443 "$out/pg-node-a.log")
drive 8443 "$fa" pg-1node 16
fb=$(serve 8444 "$out/pg-node-b.log")
drive 8443 "$fa" pg-2nodes-a 8 &
a=$!
drive 8444 "$fb" pg-2nodes-b 8
wait "$a"
kill $(cat "$work/pids") 2>/dev/null || true
wait 2>/dev/null || true
echo "reports in $out"
