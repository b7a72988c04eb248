#!/usr/bin/env bash
# serve_bench.sh [SECONDS] — kioku serve's throughput and latency, measured.
#
# Makes a word model of ptb-small's size (vocabulary 10,000, 2×200 LSTM,
# random weights: speed does not depend on training), serves it with
# batching on and then off, and drives it on loopback at concurrency 1, 8
# and 64 for scoring (a 30-word sentence) and generation (a 5-word prime
# continued by 20 words), SECONDS per point (default 10). Then it times
# the same requests as bare library calls. All in one sitting. With
# BF16=1, the server runs with -bf16 and the bare calls at bfloat16.
set -euo pipefail
secs=${1:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$here" && go build -o "$work/kioku" ./cmd/kioku && go build -o "$work/servebench" ./bench/servebench)
"$work/servebench" make -out "$work/model"
for mode in batching no-batching; do
	flags=()
	[ "$mode" = no-batching ] && flags=(-no-batching)
	[ "${BF16:-}" = 1 ] && flags+=(-bf16)
	"$work/kioku" serve -model "$work/model" -addr 127.0.0.1:18080 "${flags[@]}" >"$work/serve.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do curl -sf http://127.0.0.1:18080/readyz >/dev/null 2>&1 && break; sleep 0.1; done
	for ep in score generate; do
		"$work/servebench" load -url http://127.0.0.1:18080 -endpoint $ep -c 1,8,64 -time "${secs}s" -label $mode
	done
	kill -TERM $pid
	wait $pid || true
done
for ep in score generate; do
	"$work/servebench" bare -model "$work/model" -endpoint $ep -n 300 ${BF16:+-bf16}
done
