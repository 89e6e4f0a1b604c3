#!/usr/bin/env bash
# Starts local-kms, an AWS KMS API server, on loopback for the AWS KMS tests
# of internal/crypt, and exports
#   HESTIA_TEST_AWSKMS_ENDPOINT  http://127.0.0.1:PORT
#   HESTIA_TEST_AWSKMS_KEY_URI   aws-kms://arn:aws:kms:us-east-1:111122223333:key/ID
#
# Use: `. .ci/local-kms.sh` (exports into the calling shell), or
#      `eval "$(bash .ci/local-kms.sh)"`.
#
# Idempotent: a local-kms already answering on the port with the test key is
# reused; otherwise one is installed (go install, module proxy only) and
# started in the background, detached (setsid, no inherited descriptors), with
# its data in ${TMPDIR:-/tmp}/hestia-local-kms. The symmetric key is seeded
# from a YAML file written there on first use with a random backing key, so
# the repository holds no key material. local-kms needs no credentials; the
# tests sign with dummy ones. Stop it with: kill "$(cat DATA_DIR/pid)".
#
# local-kms listens on all interfaces (its port setting takes no host); the
# tests reach it on 127.0.0.1, and it holds only this throwaway test key.

hestia_local_kms() {
	local version=v0.0.0-20260228092603-2a5e92d09ab6 # github.com/nsmithuk/local-kms, no tagged releases
	local port=${HESTIA_LOCAL_KMS_PORT:-48231}
	local dir=${TMPDIR:-/tmp}/hestia-local-kms
	local key_id=3d1f6a0e-6c55-4b8e-9d5e-0f7a2c4b8e19
	local region=us-east-1 account=111122223333
	local endpoint=http://127.0.0.1:$port
	local bin
	bin="$(go env GOPATH)/bin/local-kms"

	# answers: 0 if the server on the port describes the test key.
	answers() {
		local out
		out=$(curl -fsS --max-time 2 -X POST "$endpoint/" \
			-H 'Content-Type: application/x-amz-json-1.1' \
			-H 'X-Amz-Target: TrentService.DescribeKey' \
			--data "{\"KeyId\":\"$key_id\"}" 2>/dev/null) && [[ $out == *"\"KeyId\":\"$key_id\""* ]]
	}

	if ! answers; then
		if [ -L "$dir" ] || { [ -e "$dir" ] && [ ! -O "$dir" ]; }; then
			echo "local-kms: $dir is a symlink or not ours" >&2
			return 1
		fi
		mkdir -p "$dir" && chmod 700 "$dir" || return 1

		if ! go version -m "$bin" 2>/dev/null | grep -q "github.com/nsmithuk/local-kms[[:space:]]*$version"; then
			go install "github.com/nsmithuk/local-kms@$version" || return 1
		fi

		if [ ! -s "$dir/seed.yaml" ]; then
			local backing
			backing=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
			[ ${#backing} -eq 64 ] || { echo "local-kms: no random backing key" >&2; return 1; }
			(umask 077 && printf 'Keys:\n  Symmetric:\n    Aes:\n      - Metadata:\n          KeyId: %s\n          Description: Hestia test KEK\n        BackingKeys:\n          - %s\n' \
				"$key_id" "$backing" >"$dir/seed.yaml") || return 1
		fi

		# A server of ours still starting up is waited for; anything else on
		# the port is an error.
		local pid state
		pid=$(cat "$dir/pid" 2>/dev/null) || true
		state=$([ -n "$pid" ] && ps -o stat=,comm= -p "$pid" 2>/dev/null) || true
		if [[ "$state" != [!Z]*local-kms* ]]; then
			if curl -sS --max-time 2 -o /dev/null "$endpoint/" 2>/dev/null; then
				echo "local-kms: port $port is taken by another server; set HESTIA_LOCAL_KMS_PORT" >&2
				return 1
			fi
			KMS_ACCOUNT_ID=$account KMS_REGION=$region KMS_DATA_PATH="$dir/data" \
				KMS_SEED_PATH="$dir/seed.yaml" PORT=$port \
				setsid bash -c 'echo $$ >"$1" && exec nohup "$2"' local-kms "$dir/pid" "$bin" \
				</dev/null >"$dir/local-kms.log" 2>&1 &
		fi

		local i
		for i in $(seq 100); do
			answers && break
			sleep 0.1
		done
		if ! answers; then
			echo "local-kms: no answer on $endpoint after 10 s; log:" >&2
			tail -n 20 "$dir/local-kms.log" >&2
			return 1
		fi
	fi

	export HESTIA_TEST_AWSKMS_ENDPOINT=$endpoint
	export HESTIA_TEST_AWSKMS_KEY_URI=aws-kms://arn:aws:kms:$region:$account:key/$key_id
	echo "local-kms: $HESTIA_TEST_AWSKMS_ENDPOINT ($dir)" >&2
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	hestia_local_kms || exit 1
	printf 'export HESTIA_TEST_AWSKMS_ENDPOINT=%q\nexport HESTIA_TEST_AWSKMS_KEY_URI=%q\n' \
		"$HESTIA_TEST_AWSKMS_ENDPOINT" "$HESTIA_TEST_AWSKMS_KEY_URI"
else
	hestia_local_kms || return 1
	unset -f hestia_local_kms answers
fi
