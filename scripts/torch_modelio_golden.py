#!/usr/bin/python3
"""Write PyTorch golden files for kioku's modelio package, and check that
PyTorch loads the files kioku writes.

Run with Debian's interpreter and python3-torch (PyTorch 1.13) and numpy:

    /usr/bin/python3 scripts/torch_modelio_golden.py modelio/testdata

The `safetensors` Python package is not needed: the files are written and
read here by hand (8-byte little-endian header length, JSON header, data
buffer), exactly in the format safetensors.torch.save_file uses.

For each case it builds a PyTorch model with a fixed seed and writes

    <case>.safetensors     the model's state_dict(), as
                           safetensors.torch.save_file(model.state_dict()) would
    <case>_io.safetensors  inputs and PyTorch's outputs (and the model's
                           configuration in the metadata)

Cases:

    lm      Embedding(12, 5) -> LSTM(5, 6, num_layers=2) -> LayerNorm(6)
            -> Linear(6, 12), float32, on token sequences of different
            lengths (packed with enforce_sorted=False)
    bigru   GRU(4, 3, num_layers=2, bidirectional=True) in float64, with h0:
            kioku loads the F64 file into float32 layers
    bilstm  LSTM(3, 4, num_layers=2, bidirectional=True, bias=False),
            float32, with h0 and c0
    rnn     RNN(3, 4, num_layers=2, nonlinearity="relu"), float32, with h0
    cells   LSTMCell(3, 4), GRUCell(3, 4), RNNCell(3, 4) stepped over a
            sequence, as prefixes lstm., gru., rnn. of one file
    bn      BatchNorm1d(4) after three training batches, evaluated: the
            state dict holds its buffers (running_mean, running_var,
            num_batches_tracked)

Then, if modelio/testdata holds kioku_lm.safetensors and
kioku_lm_io.safetensors (written by `go test ./modelio -run
TestKiokuExportForTorch -update`), it loads kioku's weights into the
PyTorch lm with load_state_dict(strict=True), runs it on kioku's inputs and
checks PyTorch's outputs against kioku's within 1e-5, exiting non-zero if
they differ; likewise kioku_bn.safetensors and kioku_bn_io.safetensors
(TestKiokuBatchNormExportForTorch -update) into BatchNorm1d. The Go tests read these files; they never need torch.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence

DTYPES = {
    np.dtype("<f4"): "F32",
    np.dtype("<f8"): "F64",
    np.dtype("<i8"): "I64",
}
NP_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "F16": "<f2"}


def to_numpy(t):
    if isinstance(t, torch.Tensor):
        t = t.detach().contiguous().numpy()
    a = np.asarray(t)
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)  # (which would make a 0-d array 1-d)
    return a.astype(a.dtype.newbyteorder("<"))


def save_safetensors(path, tensors, metadata=None):
    """Write tensors (name -> tensor/array) as safetensors.torch.save_file does:
    tensors ordered by decreasing alignment then name, header padded with
    spaces to a multiple of 8."""
    arrays = {k: to_numpy(v) for k, v in tensors.items()}
    order = sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k))
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    off = 0
    for k in order:
        a = arrays[k]
        n = a.nbytes
        header[k] = {"dtype": DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for k in order:
            f.write(arrays[k].tobytes())
    os.replace(tmp, path)


def load_safetensors(path):
    """Read a safetensors file (as safetensors.torch.load_file), checking the
    layout strictly. Returns (tensors, metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert 8 + n <= len(data), "header length past the end of the file"
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    buf = data[8 + n :]
    out = {}
    pos = 0
    for name, info in sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"])):
        b, e = info["data_offsets"]
        assert b == pos, "tensor %s: offsets not contiguous" % name
        a = np.frombuffer(buf[b:e], dtype=NP_DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(a.copy())
        pos = e
    assert pos == len(buf), "data buffer has trailing bytes"
    return out, meta


class LM(torch.nn.Module):
    def __init__(self, vocab, embed, hidden, layers):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, embed)
        self.rnn = torch.nn.LSTM(embed, hidden, num_layers=layers)
        self.norm = torch.nn.LayerNorm(hidden)
        self.out = torch.nn.Linear(hidden, vocab)

    def forward(self, seqs):
        """seqs: list of 1-D id tensors. Returns per-sequence logits and (h_n, c_n)."""
        packed = pack_sequence([self.embed(s) for s in seqs], enforce_sorted=False)
        y, (hn, cn) = self.rnn(packed)
        padded, _ = pad_packed_sequence(y)
        logits = [self.out(self.norm(padded[: len(s), i])) for i, s in enumerate(seqs)]
        return logits, hn, cn


LM_CONFIG = dict(vocab=12, embed=5, hidden=6, layers=2)


def lm_case(outdir):
    torch.manual_seed(1)
    m = LM(**LM_CONFIG)
    with torch.no_grad():  # a LayerNorm that is not the identity
        m.norm.weight.uniform_(0.5, 1.5)
        m.norm.bias.uniform_(-0.5, 0.5)
    seqs = [torch.randint(0, LM_CONFIG["vocab"], (n,)) for n in (4, 7, 1, 5)]
    with torch.no_grad():
        logits, hn, cn = m(seqs)
    save_safetensors(os.path.join(outdir, "lm.safetensors"), m.state_dict(), {"format": "pt"})
    io = {"h_n": hn, "c_n": cn}
    for i, (s, l) in enumerate(zip(seqs, logits)):
        io["ids.%d" % i] = s.to(torch.int64)
        io["logits.%d" % i] = l
    save_safetensors(os.path.join(outdir, "lm_io.safetensors"), io, {"config": json.dumps(LM_CONFIG), "sequences": str(len(seqs))})


def seq_case(outdir, name, net, inp, lengths, seed, dtype):
    torch.manual_seed(seed)
    net = net.to(dtype)
    xs = [torch.randn(n, inp, dtype=dtype) for n in lengths]
    d = 2 if net.bidirectional else 1
    h0 = 0.5 * torch.randn(net.num_layers * d, len(lengths), net.hidden_size, dtype=dtype)
    io = {"h0": h0}
    with torch.no_grad():
        if isinstance(net, torch.nn.LSTM):
            c0 = 0.5 * torch.randn_like(h0)
            y, (hn, cn) = net(pack_sequence(xs, enforce_sorted=False), (h0, c0))
            io["c0"], io["c_n"] = c0, cn
        else:
            y, hn = net(pack_sequence(xs, enforce_sorted=False), h0)
        padded, _ = pad_packed_sequence(y)
    save_safetensors(os.path.join(outdir, name + ".safetensors"), net.state_dict(), {"format": "pt"})
    io["h_n"] = hn
    for i, x in enumerate(xs):
        io["x.%d" % i] = x
        io["y.%d" % i] = padded[: lengths[i], i]
    cfg = dict(input=inp, hidden=net.hidden_size, layers=net.num_layers, bidirectional=net.bidirectional, bias=net.bias)
    save_safetensors(os.path.join(outdir, name + "_io.safetensors"), io, {"config": json.dumps(cfg), "sequences": str(len(xs))})


def cells_case(outdir):
    torch.manual_seed(4)
    cells = {"lstm": torch.nn.LSTMCell(3, 4), "gru": torch.nn.GRUCell(3, 4), "rnn": torch.nn.RNNCell(3, 4)}
    state = {}
    io = {}
    x = torch.randn(5, 2, 3)  # T, B, I
    io["x"] = x
    with torch.no_grad():
        for name, cell in cells.items():
            for k, v in cell.state_dict().items():
                state[name + "." + k] = v
            h = 0.5 * torch.randn(2, 4)
            io[name + ".h0"] = h
            if name == "lstm":
                c = 0.5 * torch.randn(2, 4)
                io[name + ".c0"] = c
            hs = []
            for t in range(x.shape[0]):
                if name == "lstm":
                    h, c = cell(x[t], (h, c))
                else:
                    h = cell(x[t], h)
                hs.append(h)
            io[name + ".h"] = torch.stack(hs)
            if name == "lstm":
                io[name + ".c_n"] = c
    save_safetensors(os.path.join(outdir, "cells.safetensors"), state, {"format": "pt"})
    save_safetensors(os.path.join(outdir, "cells_io.safetensors"), io)


def bn_case(outdir):
    """BatchNorm1d(4) trained on three batches, then evaluated: its state
    dict holds the buffers running_mean, running_var (F32) and
    num_batches_tracked (an I64 scalar)."""
    torch.manual_seed(6)
    bn = torch.nn.BatchNorm1d(4)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
        for _ in range(3):
            bn(2 * torch.randn(6, 4) + 1)
    bn.eval()
    x = torch.randn(5, 4)
    with torch.no_grad():
        y = bn(x)
    save_safetensors(os.path.join(outdir, "bn.safetensors"), bn.state_dict(), {"format": "pt"})
    save_safetensors(os.path.join(outdir, "bn_io.safetensors"), {"x": x, "y": y})


def check_kioku_bn_export(outdir):
    """Load kioku's BatchNormalization state dict into PyTorch's BatchNorm1d
    and compare evaluation outputs."""
    wpath = os.path.join(outdir, "kioku_bn.safetensors")
    iopath = os.path.join(outdir, "kioku_bn_io.safetensors")
    if not (os.path.exists(wpath) and os.path.exists(iopath)):
        print("no kioku BatchNorm export to check (run: go test ./modelio -run TestKiokuBatchNormExportForTorch -update)")
        return
    state, _ = load_safetensors(wpath)
    io, _ = load_safetensors(iopath)
    bn = torch.nn.BatchNorm1d(io["x"].shape[1])
    bn.load_state_dict(state, strict=True)
    bn.eval()
    with torch.no_grad():
        worst = (bn(io["x"]) - io["y"]).abs().max().item()
    if worst > 1e-5 or bn.num_batches_tracked.item() != state["num_batches_tracked"].item():
        sys.exit("kioku BatchNorm export: PyTorch's outputs differ from kioku's by %g" % worst)
    print("kioku BatchNorm export: PyTorch loads %s with its buffers and matches kioku within %.2g" % (os.path.basename(wpath), worst))


def check_kioku_export(outdir):
    """Load kioku's export into the PyTorch lm and compare outputs."""
    wpath = os.path.join(outdir, "kioku_lm.safetensors")
    iopath = os.path.join(outdir, "kioku_lm_io.safetensors")
    if not (os.path.exists(wpath) and os.path.exists(iopath)):
        print("no kioku export to check (run: go test ./modelio -run TestKiokuExportForTorch -update)")
        return
    state, meta = load_safetensors(wpath)
    io, iometa = load_safetensors(iopath)
    cfg = json.loads(iometa["config"])
    m = LM(**cfg)
    m.load_state_dict(state, strict=True)
    n = int(iometa["sequences"])
    seqs = [io["ids.%d" % i] for i in range(n)]
    with torch.no_grad():
        logits, hn, cn = m(seqs)
    worst = 0.0
    for i in range(n):
        worst = max(worst, (logits[i] - io["logits.%d" % i]).abs().max().item())
    worst = max(worst, (hn - io["h_n"]).abs().max().item(), (cn - io["c_n"]).abs().max().item())
    if worst > 1e-5:
        sys.exit("kioku export: PyTorch's outputs differ from kioku's by %g" % worst)
    print("kioku export: PyTorch loads %s (format %s) and matches kioku within %.2g" % (os.path.basename(wpath), meta.get("format"), worst))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_modelio_golden.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    lm_case(outdir)
    torch.manual_seed(2)
    seq_case(outdir, "bigru", torch.nn.GRU(4, 3, num_layers=2, bidirectional=True), 4, [3, 5, 2], 20, torch.float64)
    torch.manual_seed(5)
    seq_case(outdir, "bilstm", torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, bias=False), 3, [2, 6, 3, 3], 50, torch.float32)
    torch.manual_seed(3)
    seq_case(outdir, "rnn", torch.nn.RNN(3, 4, num_layers=2, nonlinearity="relu"), 3, [4, 2, 6], 30, torch.float32)
    cells_case(outdir)
    bn_case(outdir)
    # Self-check: the hand-written files read back as written.
    for name in ("lm", "bigru", "bilstm", "rnn", "cells", "bn"):
        load_safetensors(os.path.join(outdir, name + ".safetensors"))
        load_safetensors(os.path.join(outdir, name + "_io.safetensors"))
    print("wrote golden files to", outdir)
    check_kioku_export(outdir)
    check_kioku_bn_export(outdir)


if __name__ == "__main__":
    main()
