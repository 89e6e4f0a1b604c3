#!/usr/bin/env bash
# Starts a PostgreSQL server on loopback for the tests that need one
# (internal/pgtest gives each a database of its own), and exports
#   HESTIA_TEST_POSTGRES  postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
#
# Use: `. .ci/postgres.sh` (exports into the calling shell), or
#      `eval "$(bash .ci/postgres.sh)"`.
#
# Port: HESTIA_POSTGRES_PORT, 55432 by default. Idempotent: a PostgreSQL
# server already answering on that port that lets the user postgres in
# without a password is reused; anything else on the port is an error.
#
# Otherwise the server binaries are taken from /usr/lib/postgresql/*/bin
# (Debian's postgresql package, installed with apt-get when absent), and a
# throwaway cluster is made in a new temporary folder: initdb --auth=trust
# with superuser postgres, listening on 127.0.0.1 only, its Unix socket in
# that folder. The server refuses to run as root, so as root the cluster is
# owned and run by the system user postgres (created when missing);
# otherwise by the calling user, who then needs sudo only to install the
# package. The server is left running, detached (pg_ctl); the command that
# stops it and removes its folder is printed.
#
# Trust means any local user can connect over loopback as the superuser: the
# cluster holds only test databases and is never reachable from outside.

hestia_postgres() {
	local port=${HESTIA_POSTGRES_PORT:-55432}
	local url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	local sudo_cmd="" as_root=false
	[ "$(id -u)" -eq 0 ] && as_root=true
	$as_root || sudo_cmd=sudo

	# bindir: the bin folder of the newest PostgreSQL with initdb.
	bindir() {
		local d
		d=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
		[ -n "$d" ] && dirname "$d"
	}
	local bin
	if ! bin=$(bindir); then
		echo "postgres: installing Debian's postgresql package" >&2
		$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
		$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
		bin=$(bindir) || { echo "postgres: no initdb under /usr/lib/postgresql/*/bin after install" >&2; return 1; }
	fi

	# answers: 0 if a server on the port lets postgres in without a password.
	answers() {
		[ "$("$bin/psql" -X -w -At -c 'SELECT 1' "$url" 2>/dev/null)" = 1 ]
	}
	# stop_hint: how to stop the server whose data folder is $1 and remove
	# the folder that holds it, as the user who owns them.
	stop_hint() {
		local data=$1 owner run=""
		[ -n "$data" ] || return 0
		owner=$(stat -c %U "$(dirname "$data")" 2>/dev/null) || return 0
		if [ "$owner" != "$(id -un)" ]; then
			if $as_root; then run="runuser -u $owner -- "; else run="sudo -u $owner "; fi
		fi
		echo "postgres: stop it with: ${run}$bin/pg_ctl -D $data stop -m fast && ${run}rm -rf $(dirname "$data")" >&2
	}

	if answers; then
		export HESTIA_TEST_POSTGRES=$url
		echo "postgres: reusing the server on 127.0.0.1:$port" >&2
		stop_hint "$("$bin/psql" -X -w -At -c 'SHOW data_directory' "$url" 2>/dev/null)"
		return 0
	fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "postgres: port $port is taken by another server; set HESTIA_POSTGRES_PORT" >&2
		return 1
	fi

	# as_pg: runs a command as the cluster's owner, from a folder it can read.
	as_pg() {
		if $as_root; then
			(cd / && runuser -u postgres -- "$@")
		else
			(cd / && "$@")
		fi
	}
	if $as_root && ! id -u postgres >/dev/null 2>&1; then
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin postgres || return 1
	fi

	# As root the folder is made in /tmp, which the postgres user can reach
	# whatever TMPDIR is.
	local dir
	if $as_root; then
		dir=$(mktemp -d /tmp/hestia-postgres.XXXXXXXX) || return 1
		chown postgres:postgres "$dir" || return 1
	else
		dir=$(mktemp -d "${TMPDIR:-/tmp}/hestia-postgres.XXXXXXXX") || return 1
	fi
	chmod 700 "$dir" || return 1
	local data=$dir/data

	as_pg "$bin/initdb" -D "$data" --auth=trust --username=postgres \
		--encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
		echo "postgres: initdb failed; log:" >&2
		tail -n 20 "$dir/initdb.log" >&2
		return 1
	}
	printf "listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n" \
		"$port" "$dir" >>"$data/postgresql.conf" || return 1

	# pg_ctl detaches the server (its own session, no inherited descriptors:
	# standard input from /dev/null, output to the log).
	if ! as_pg "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start >/dev/null; then
		echo "postgres: the server did not start; log:" >&2
		tail -n 20 "$dir/postgres.log" >&2
		return 1
	fi
	local i
	for i in $(seq 100); do
		"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && answers && break
		sleep 0.1
	done
	if ! answers; then
		echo "postgres: no answer on 127.0.0.1:$port after 10 s; log:" >&2
		tail -n 20 "$dir/postgres.log" >&2
		return 1
	fi

	export HESTIA_TEST_POSTGRES=$url
	echo "postgres: $("$bin/postgres" --version) on 127.0.0.1:$port ($dir)" >&2
	stop_hint "$data"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	hestia_postgres || exit 1
	printf 'export HESTIA_TEST_POSTGRES=%q\n' "$HESTIA_TEST_POSTGRES"
else
	hestia_postgres || return 1
	unset -f hestia_postgres bindir answers stop_hint as_pg
fi
