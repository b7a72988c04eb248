#!/usr/bin/env bash
# Side-by-side LSTM benchmark, kioku against PyTorch, in one sitting on the
# same machine (quote the ratios, not the absolute numbers: the machines
# are shared and noisy).
#
#   apt-get install -y python3-torch        # once: Debian's PyTorch 1.13
#   bench/lstm_vs_torch.sh [seconds-per-measurement]
#
# 1. kioku bench -torch: the five configurations of DESIGN.md, full
#    training steps (embedding, LSTM, softmax cross-entropy, clipping, SGD)
#    and inference. PyTorch's ../shared/bench/torch_lstm.py runs first, once
#    for each of torch.set_num_threads 1, 2 × OPENBLAS_NUM_THREADS 1, 2;
#    each ratio is against PyTorch's fastest setting for that config and
#    kind. One JSON line per config with both and the ratios; on CPUs with
#    AVX512_BF16 also kioku's opt-in bfloat16 inference (infer_bf16_*).
# 2. go test -bench NStepLSTM: the LSTM stack alone (forward, and forward
#    plus backward) at the same shapes.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
script=${TORCH_SCRIPT:-../shared/bench/torch_lstm.py}
bin=$(mktemp -d)/kioku
go build -o "$bin" ./cmd/kioku
echo "== kioku bench -torch $script (PyTorch: best of threads 1,2 × OpenBLAS 1,2; kioku GOMAXPROCS=$(nproc))"
bf16=""
if grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null; then
	bf16=-bf16 # also time kioku's opt-in bfloat16 inference
fi
"$bin" bench -time "${secs}s" -torch "$script" $bf16
echo "== go test ./nn -bench NStepLSTM"
go test ./nn -run '^$' -bench 'NStepLSTM' -benchtime "${secs}s"
