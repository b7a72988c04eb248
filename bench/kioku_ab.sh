#!/usr/bin/env bash
# Old against new: `kioku bench` of two git revisions, interleaved (A B A B
# …) in one sitting on the same machine, with the ratio new/old per config
# for training, inference and (where the CPU has AVX512_BF16) bfloat16
# inference, and the bytes a training step allocates.
#
#   bench/kioku_ab.sh OLD-REV [NEW-REV] [rounds] [seconds-per-measurement]
#
# NEW-REV defaults to the working tree. Each round runs both binaries once
# over the five configurations; the table gives each ratio's median over
# the rounds and its range (the machines are shared: quote the medians).
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: bench/kioku_ab.sh OLD-REV [NEW-REV] [rounds] [seconds]}
new=${2:-}
rounds=${3:-3}
secs=${4:-2}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

build() { # build REV OUT: build kioku at REV (empty: the working tree)
	if [ -z "$1" ]; then
		go build -o "$2" ./cmd/kioku
		return
	fi
	git worktree add -q --detach "$dir/src-$(basename "$2")" "$1"
	(cd "$dir/src-$(basename "$2")" && go build -o "$2" ./cmd/kioku)
	git worktree remove --force "$dir/src-$(basename "$2")"
}
build "$old" "$dir/old"
build "$new" "$dir/new"

bf16=""
if grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null; then
	bf16=-bf16
fi
for r in $(seq "$rounds"); do
	for w in old new; do
		echo "== round $r: $w" >&2
		"$dir/$w" bench -time "${secs}s" $bf16 | sed "s/^/$w $r /" >>"$dir/runs.txt"
	done
done

python3 - "$dir/runs.txt" <<'EOF'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    who, rnd, rest = line.split(" ", 2)
    if not rest.startswith("{"):
        continue
    d = json.loads(rest)
    runs.setdefault((d["config"], int(rnd)), {})[who] = d
configs = []
for (c, _) in runs:
    if c not in configs:
        configs.append(c)
keys = [("train_tok_s", "train"), ("infer_tok_s", "infer"), ("infer_bf16_tok_s", "bf16 infer")]
print("| config | " + " | ".join(f"{n} new/old" for _, n in keys) + " | alloc/step old → new (MB) |")
print("|---|" + "---|" * (len(keys) + 1))
for c in configs:
    cells = []
    for k, _ in keys:
        rs = [v["new"][k] / v["old"][k] for (cc, _), v in runs.items()
              if cc == c and "old" in v and "new" in v and v["old"].get(k) and v["new"].get(k)]
        cells.append(f"{statistics.median(rs):.3f} ({min(rs):.2f}–{max(rs):.2f})" if rs else "—")
    al = [(v["old"]["train_alloc_bytes_per_step"], v["new"]["train_alloc_bytes_per_step"])
          for (cc, _), v in runs.items() if cc == c and "old" in v and "new" in v]
    ao = statistics.median(a for a, _ in al) / 1e6
    an = statistics.median(b for _, b in al) / 1e6
    cells.append(f"{ao:.2f} → {an:.2f}")
    print(f"| {c} | " + " | ".join(cells) + " |")
EOF
