# Sourced by the overhead scripts.
#
# abba N A B prints the order of pair N in an ABBA sequence ("A B" for odd
# pairs, "B A" for even ones), so that drift of the shared machine falls on
# both builds alike.
abba() {
	if [ $(($1 % 2)) -eq 1 ]; then echo "$2 $3"; else echo "$3 $2"; fi
}

# bench_client HESTIA DATA registers a backend service with a client secret
# and every system scope in the data directory DATA (created if need be)
# with the hestia binary HESTIA, and exports its credentials for the load
# driver (HESTIA_BENCH_CLIENT_ID, HESTIA_BENCH_CLIENT_SECRET).
bench_client() {
	creds=$("$1" client add --data "$2" --name bench --backend --secret --scope 'system/*.cruds' 2>/dev/null)
	HESTIA_BENCH_CLIENT_ID=$(echo "$creds" | awk '/^client_id:/ {print $2}')
	HESTIA_BENCH_CLIENT_SECRET=$(echo "$creds" | awk '/^client_secret:/ {print $2}')
	export HESTIA_BENCH_CLIENT_ID HESTIA_BENCH_CLIENT_SECRET
}
