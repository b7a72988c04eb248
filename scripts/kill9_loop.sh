#!/usr/bin/env bash
# kill9_loop.sh [KILLS] [DATA] — crash safety of training, measured.
#
# Trains a small character model on DATA (default: the first 300 kB of
# ../shared/data/tinyshakespeare/input.txt, read in place) with periodic
# saves, kills it with SIGKILL at a random moment, checks that every
# checkpoint that existed (OUT/last, OUT/best) still loads and evaluates,
# resumes from OUT/last, and repeats KILLS times (default 30). It prints one
# line per kill and a summary; the exit status is non-zero if any model was
# lost. Everything is written under a fresh temporary directory.
set -euo pipefail
kills=${1:-30}
data=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$data" ]; then
	head -c 300000 "$here/../shared/data/tinyshakespeare/input.txt" >"$work/data.txt"
	data=$work/data.txt
fi
(cd "$here" && go build -o "$work/kioku" ./cmd/kioku)
k=$work/kioku
out=$work/run
flags=(-data "$data" -out "$out" -epochs 1000 -emb 32 -hidden 128 -layers 1 -batch 16 -bptt 32 -eval-every 40 -save-every 15 -sample 0)

loads() { "$k" eval -model "$1" -data "$data" -batch 4 >/dev/null 2>&1; }

lost=0 ok=0 leftovers=0
for i in $(seq 1 "$kills"); do
	had=()
	for d in last best; do [ -e "$out/$d" ] && had+=("$d"); done
	if [ -e "$out/last" ]; then
		"$k" train -resume "$out/last" "${flags[@]:0:4}" -save-every 15 -sample 0 >/dev/null 2>&1 &
	else
		"$k" train "${flags[@]}" >/dev/null 2>&1 &
	fi
	pid=$!
	sleep "$(awk -v s=$RANDOM 'BEGIN { srand(s); printf "%.2f", 0.3 + 2.7 * rand() }')"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	line="kill $i:"
	for d in last best; do
		if [ -e "$out/$d" ]; then
			if loads "$out/$d"; then line+=" $d ok"; ok=$((ok + 1)); else line+=" $d LOST"; lost=$((lost + 1)); fi
		elif [[ " ${had[*]:-} " == *" $d "* ]]; then
			line+=" $d LOST (gone)"; lost=$((lost + 1))
		fi
	done
	[ -e "$out/last" ] && line+=" (last at step $("$k" inspect "$out/last" 2>/dev/null | sed -n 's/.* at step \([0-9]*\).*/\1/p' | head -1))"
	n=$(find "$out" -maxdepth 1 -name '*.tmp*' | wc -l)
	leftovers=$((leftovers + n))
	echo "$line; temporary entries left: $n"
done
echo "kills: $kills, checkpoints checked: $((ok + lost)), loaded: $ok, lost: $lost, temporary entries seen: $leftovers"
[ "$lost" -eq 0 ]
