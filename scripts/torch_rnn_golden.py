#!/usr/bin/python3
"""Write PyTorch golden cases for kioku's recurrent layers.

Run with Debian's interpreter and python3-torch (PyTorch 1.13):

    apt-get install -y python3-torch
    /usr/bin/python3 scripts/torch_rnn_golden.py nn/testdata/torch_rnn

For each case it builds an nn.LSTM / nn.GRU / nn.RNN in float64 with a fixed
seed, runs it on a list of sequences of unsorted lengths (packed with
enforce_sorted=False) from given initial states, and records the weights by
their PyTorch names, the inputs, the per-sequence outputs, the final states,
and the gradients of L = sum_i <out_i, R_i> + <h_n, R_h> (+ <c_n, R_c>) with
respect to the inputs, the initial states and every weight, for fixed random
projections R. Tensors are stored as {"shape": [...], "data": [...]} with
floats written by repr, so float64 values round-trip exactly. The Go tests
read these files; they never need torch.
"""
import json
import os
import sys

import torch
from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence


def t2j(t):
    t = t.detach().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


CASES = [
    # mode, layers, bidirectional, input, hidden, bias, lengths
    ("LSTM", 1, False, 3, 5, True, [3, 5, 1, 4]),
    ("LSTM", 1, True, 3, 5, True, [3, 5, 1, 4]),
    ("LSTM", 2, True, 4, 3, True, [2, 6, 6, 1, 3]),
    ("LSTM", 3, False, 2, 5, True, [4, 1, 3]),
    ("LSTM", 3, True, 3, 4, True, [1, 3, 2]),
    ("LSTM", 2, False, 3, 5, False, [3, 5, 1, 4]),
    ("LSTM", 2, True, 3, 7, True, [5]),  # batch 1
    ("GRU", 1, False, 3, 5, True, [3, 5, 1, 4]),
    ("GRU", 1, True, 3, 5, True, [3, 5, 1, 4]),
    ("GRU", 2, True, 4, 3, True, [2, 6, 6, 1, 3]),
    ("GRU", 3, False, 2, 5, True, [4, 1, 3]),
    ("GRU", 2, False, 3, 5, False, [1, 2]),
    ("RNN_TANH", 1, False, 3, 5, True, [3, 5, 1, 4]),
    ("RNN_TANH", 2, True, 4, 3, True, [2, 6, 6, 1, 3]),
    ("RNN_TANH", 3, True, 2, 5, True, [4, 1, 3]),
    ("RNN_RELU", 1, True, 3, 5, True, [3, 5, 1, 4]),
    ("RNN_RELU", 2, False, 4, 3, True, [2, 6, 6, 1, 3]),
    ("RNN_RELU", 3, True, 2, 5, True, [4, 1, 3]),
]


def build(mode, layers, bi, inp, hid, bias):
    kw = dict(input_size=inp, hidden_size=hid, num_layers=layers, bidirectional=bi, bias=bias)
    if mode == "LSTM":
        return torch.nn.LSTM(**kw)
    if mode == "GRU":
        return torch.nn.GRU(**kw)
    return torch.nn.RNN(nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kw)


def run_case(idx, mode, layers, bi, inp, hid, bias, lengths):
    torch.manual_seed(1000 + idx)
    net = build(mode, layers, bi, inp, hid, bias).double()
    d = 2 if bi else 1
    b = len(lengths)
    xs = [torch.randn(n, inp, dtype=torch.float64, requires_grad=True) for n in lengths]
    h0 = (0.5 * torch.randn(layers * d, b, hid, dtype=torch.float64)).requires_grad_()
    c0 = (0.5 * torch.randn(layers * d, b, hid, dtype=torch.float64)).requires_grad_()
    packed = pack_sequence(xs, enforce_sorted=False)
    if mode == "LSTM":
        out, (hn, cn) = net(packed, (h0, c0))
    else:
        out, hn = net(packed, h0)
        cn = None
    padded, lens = pad_packed_sequence(out, batch_first=True)
    outs = [padded[i, : lengths[i]] for i in range(b)]
    proj_out = [torch.randn_like(o) for o in outs]
    proj_h = torch.randn_like(hn)
    loss = sum((o * r).sum() for o, r in zip(outs, proj_out)) + (hn * proj_h).sum()
    case = {
        "mode": mode,
        "num_layers": layers,
        "bidirectional": bi,
        "input_size": inp,
        "hidden_size": hid,
        "bias": bias,
        "lengths": lengths,
        "inputs": [t2j(x) for x in xs],
        "h0": t2j(h0),
        "weights": {name: t2j(p) for name, p in net.named_parameters()},
        "outputs": [t2j(o) for o in outs],
        "h_n": t2j(hn),
        "proj_out": [t2j(r) for r in proj_out],
        "proj_h": t2j(proj_h),
    }
    if mode == "LSTM":
        proj_c = torch.randn_like(cn)
        loss = loss + (cn * proj_c).sum()
        case["c0"] = t2j(c0)
        case["c_n"] = t2j(cn)
        case["proj_c"] = t2j(proj_c)
    loss.backward()
    case["grad_inputs"] = [t2j(x.grad) for x in xs]
    case["grad_h0"] = t2j(h0.grad)
    if mode == "LSTM":
        case["grad_c0"] = t2j(c0.grad)
    case["grad_weights"] = {name: t2j(p.grad) for name, p in net.named_parameters()}
    return case


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "nn/testdata/torch_rnn"
    os.makedirs(outdir, exist_ok=True)
    for i, c in enumerate(CASES):
        mode, layers, bi, inp, hid, bias, lengths = c
        case = run_case(i, *c)
        case["torch_version"] = torch.__version__
        name = "%02d_%s_l%d_%s_i%d_h%d%s_b%d.json" % (
            i, mode.lower(), layers, "bi" if bi else "uni", inp, hid, "" if bias else "_nobias", len(lengths))
        with open(os.path.join(outdir, name), "w") as f:
            json.dump(case, f, separators=(",", ":"))
            f.write("\n")
        print(name)


if __name__ == "__main__":
    main()
