#!/usr/bin/env bash
# Side-by-side float32 GEMM speed: kioku versus numpy on Debian's OpenBLAS,
# one and two threads, in one run, printed as a ratio table.
#
# Usage: bench/gemm_vs_openblas.sh [SHAPES] [ROUNDS]
#
#   SHAPES  kioku's shape syntax (default "squares,lstm"; see
#           `kioku bench gemm -help`)
#   ROUNDS  how many times to run the whole comparison; each cell keeps its
#           best (default 1). The machines are shared and noisy, so use 2–3
#           when the numbers matter.
#
# Needs Go and Debian's python3-numpy with libopenblas0-pthread:
#   apt-get install -y python3-numpy libopenblas0-pthread
# It uses /usr/bin/python3 (Debian's interpreter) on purpose. Environment:
# TIME (seconds of measuring per cell, default 0.3), REPS (default 5).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
shapes=${1:-squares,lstm}
rounds=${2:-1}
time_s=${TIME:-0.3}
reps=${REPS:-5}
py=/usr/bin/python3

if ! "$py" -c 'import numpy' 2>/dev/null; then
	echo "gemm_vs_openblas.sh: $py cannot import numpy; run: apt-get install -y python3-numpy libopenblas0-pthread" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/kioku" ./cmd/kioku)

for ((r = 1; r <= rounds; r++)); do
	echo "round $r/$rounds: kioku" >&2
	"$work/kioku" bench gemm -shapes "$shapes" -threads 1,2 -time "${time_s}s" -reps "$reps" >>"$work/kioku.jsonl"
	for t in 1 2; do
		echo "round $r/$rounds: OpenBLAS, $t thread(s)" >&2
		# The reference runs OpenBLAS's own kernel for this CPU: drop the
		# overrides some machines set (OPENBLAS_CORETYPE=Haswell halves it
		# on AVX-512).
		env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=$t "$py" "$here/gemm_openblas.py" "$shapes" "$time_s" "$reps" >>"$work/openblas.jsonl"
	done
done

echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; $(go version | cut -d' ' -f3); numpy $("$py" -c 'import numpy; print(numpy.__version__)'), OpenBLAS $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?')"
"$py" - "$work/kioku.jsonl" "$work/openblas.jsonl" <<'PY'
import json, sys

def load(path):
    best = {}
    order = []
    for line in open(path):
        r = json.loads(line)
        key = (r["m"], r["n"], r["k"], r["threads"])
        if key not in best:
            order.append(key)
        best[key] = max(best.get(key, 0.0), r["gflops"])
    return best, order

kio, order = load(sys.argv[1])
obl, _ = load(sys.argv[2])
shapes = []
for m, n, k, _ in order:
    if (m, n, k) not in shapes:
        shapes.append((m, n, k))

def f(v):
    return "—" if v is None else f"{v:.1f}"

def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}"

print("| M×N×K | kioku 1T | OpenBLAS 1T | kioku/OpenBLAS 1T | kioku 2T | OpenBLAS 2T | kioku/OpenBLAS 2T | kioku 2T/1T |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for m, n, k in shapes:
    k1, k2 = kio.get((m, n, k, 1)), kio.get((m, n, k, 2))
    o1, o2 = obl.get((m, n, k, 1)), obl.get((m, n, k, 2))
    print(f"| {m}×{n}×{k} | {f(k1)} | {f(o1)} | {ratio(k1, o1)} | {f(k2)} | {f(o2)} | {ratio(k2, o2)} | {ratio(k2, k1)} |")
print()
print("GFLOP/s (2·M·N·K per product), best of the repetitions and rounds.")
PY
