#!/usr/bin/env python3
"""Writes baton's PyTorch reference states, in the manner of llm.c's test_gpt2.

For each preset (tiny, small) it builds baton's decoder a second time in plain
PyTorch (no transformers library), in float32 on the CPU, and writes to
transformer/testdata/torch_reference_<preset>.safetensors:

  tokens, targets     (B,T) int32: one batch from a fixed torch generator
  w.<name>            every parameter, GPT-2 names (model/layout.go; linear
                      weights (in,out), as GPT-2's Conv1D)
  logits              (B,T,V) for tiny; (1,T,V), the first sequence, for small
  loss                (1,) mean cross-entropy over the B*T tokens
  g.<name>            d loss / d <name> after one forward/backward (tiny: every
                      tensor; small: see SMALL_FULL_GRADS below)
  gsq.<name>          (1,) float64 sum of squares of every gradient (both presets)
  losses              (10,) the loss before each of 10 AdamW steps on the batch

transformer/torch_reference_test.go checks baton's CPU kernels against it. The
committed file is the reference: CI needs no PyTorch. Regenerate with

  /usr/bin/python3 scripts/torch_reference.py

(any PyTorch >= 1.13 on CPU; Debian bookworm's python3-torch works). The file
is a plain safetensors file written by hand below, so the `safetensors`
package is not needed either.

The model, as baton computes it (transformer/, kernels/cpu):
  x = wte[tokens] + wpe[0:T]
  per block: x += c_proj(attn(c_attn(ln_1(x))));  x += mlp.c_proj(gelu_tanh(mlp.c_fc(ln_2(x))))
  logits = ln_f(x) @ wte^T (the LM head is tied to wte); loss = mean cross-entropy
  LayerNorm eps 1e-5; causal attention with scores scaled by 1/sqrt(C/NH).
Training: AdamW, lr 1e-3 constant, betas (0.9, 0.95), eps 1e-8, weight decay
0.1 on the matrices only (wte, wpe and the four linear weights of each block:
model.Tensor.Decay), no gradient clipping (baton clips in runtime/, outside the
Stack this checks).

Weights are not baton's N(0, 0.02) init: under it the MLP's inputs are ~0.1,
where GELU's cubic term and LayerNorm's eps hardly show, so a wrong constant
there would pass. As llm.c does with trained GPT-2 weights, they are scaled so
every layer's activations are O(1): matrices N(0, 1/sqrt(fan_in)), biases and
LayerNorm shifts N(0, 0.1), LayerNorm gains 1 + N(0, 0.1).
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

PRESETS = {  # model/config.go
    "tiny": dict(V=256, MaxT=16, C=32, NH=4, L=2),
    "small": dict(V=256, MaxT=128, C=128, NH=4, L=8),
}
B = 4
STEPS = 10
LR, BETAS, EPS, WD = 1e-3, (0.9, 0.95), 1e-8, 0.1
SEED = 1337
BLOCK = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
         "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
         "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]


def layout(cfg):
    """Every parameter (name, shape, decay) in checkpoint order (model/layout.go)."""
    V, MaxT, C, L = cfg["V"], cfg["MaxT"], cfg["C"], cfg["L"]
    shapes = {"ln_1.weight": (C,), "ln_1.bias": (C,), "attn.c_attn.weight": (C, 3 * C),
              "attn.c_attn.bias": (3 * C,), "attn.c_proj.weight": (C, C), "attn.c_proj.bias": (C,),
              "ln_2.weight": (C,), "ln_2.bias": (C,), "mlp.c_fc.weight": (C, 4 * C),
              "mlp.c_fc.bias": (4 * C,), "mlp.c_proj.weight": (4 * C, C), "mlp.c_proj.bias": (C,)}
    out = [("wte.weight", (V, C), True), ("wpe.weight", (MaxT, C), True)]
    for l in range(L):
        out += [("h.%d.%s" % (l, n), shapes[n], len(shapes[n]) == 2) for n in BLOCK]
    return out + [("ln_f.weight", (C,), False), ("ln_f.bias", (C,), False)]


def init_weights(cfg, gen):
    w = {}
    for name, shape, _ in layout(cfg):
        if len(shape) == 2:
            std = 1 / math.sqrt(shape[1] if name in ("wte.weight", "wpe.weight") else shape[0])
            w[name] = torch.randn(shape, generator=gen) * std
        elif "ln_" in name and name.endswith(".weight"):
            w[name] = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            w[name] = 0.1 * torch.randn(shape, generator=gen)
    return {k: v.float().contiguous().requires_grad_(True) for k, v in w.items()}


def forward(cfg, w, tokens):
    """Logits (B,T,V) of tokens (B,T)."""
    C, NH, L = cfg["C"], cfg["NH"], cfg["L"]
    Bs, T = tokens.shape
    hs = C // NH
    ln = lambda x, p: F.layer_norm(x, (C,), w[p + ".weight"], w[p + ".bias"], eps=1e-5)
    lin = lambda x, p: x @ w[p + ".weight"] + w[p + ".bias"]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    x = w["wte.weight"][tokens] + w["wpe.weight"][:T]
    for l in range(L):
        p = "h.%d." % l
        qkv = lin(ln(x, p + "ln_1"), p + "attn.c_attn")
        q, k, v = (t.view(Bs, T, NH, hs).transpose(1, 2) for t in qkv.split(C, dim=2))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(Bs, T, C)
        x = x + lin(y, p + "attn.c_proj")
        h = F.gelu(lin(ln(x, p + "ln_2"), p + "mlp.c_fc"), approximate="tanh")
        x = x + lin(h, p + "mlp.c_proj")
    return ln(x, "ln_f") @ w["wte.weight"].t()


def loss_of(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long())


def small_full_grads(cfg):
    """The tensors whose whole gradient the small file keeps (to stay under
    ~10 MB): the embedding, the first and last block and ln_f. Every other
    tensor keeps its gradient's sum of squares (gsq.<name>)."""
    keep = {"wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"}
    for l in (0, cfg["L"] - 1):
        keep |= {"h.%d.%s" % (l, n) for n in BLOCK}
    return keep


def reference(preset):
    cfg = PRESETS[preset]
    T = cfg["MaxT"]
    gen = torch.Generator().manual_seed(SEED)
    w = init_weights(cfg, gen)
    seq = torch.randint(0, cfg["V"], (B, T + 1), generator=gen)
    tokens, targets = seq[:, :T].contiguous(), seq[:, 1:].contiguous()

    out = {"tokens": tokens.to(torch.int32), "targets": targets.to(torch.int32)}
    for name, _, _ in layout(cfg):
        out["w." + name] = w[name].detach().clone()
    logits = forward(cfg, w, tokens)
    loss = loss_of(logits, targets)
    loss.backward()
    out["logits"] = (logits if preset == "tiny" else logits[:1]).detach().clone()
    out["loss"] = loss.detach().reshape(1).clone()
    full = None if preset == "tiny" else small_full_grads(cfg)
    for name, _, _ in layout(cfg):
        g = w[name].grad.detach().clone()
        if full is None or name in full:
            out["g." + name] = g
        out["gsq." + name] = torch.tensor([(g.double() ** 2).sum().item()], dtype=torch.float64)

    # 10 AdamW steps on the same batch, starting over from the same weights.
    for t in w.values():
        t.grad = None
    decay = [w[n] for n, _, d in layout(cfg) if d]
    other = [w[n] for n, _, d in layout(cfg) if not d]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": other, "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=EPS)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = loss_of(forward(cfg, w, tokens), targets)
        loss.backward()
        losses.append(loss.item())
        opt.step()
    out["losses"] = torch.tensor(losses, dtype=torch.float32)

    meta = {
        "preset": preset, "config": json.dumps(cfg), "B": str(B), "T": str(T), "seed": str(SEED),
        "torch_version": torch.__version__, "python_version": sys.version.split()[0],
        "command": "/usr/bin/python3 scripts/torch_reference.py",
        "adamw": json.dumps({"lr": LR, "beta1": BETAS[0], "beta2": BETAS[1], "eps": EPS,
                             "weight_decay": WD, "decay": "matrices only", "clip": "none"}),
        "logits": "all B sequences" if preset == "tiny" else "the first sequence only",
        "grads": "every tensor" if preset == "tiny" else "embedding, blocks 0 and L-1, ln_f; gsq for all",
    }
    return out, meta


DTYPES = {torch.float32: ("F32", "<f4"), torch.float64: ("F64", "<f8"), torch.int32: ("I32", "<i4")}


def write_safetensors(path, tensors, meta):
    """safetensors: u64 little-endian header length, JSON header (padded with
    spaces to a multiple of 8), then the tensors' little-endian bytes."""
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        dt, npdt = DTYPES[t.dtype]
        b = t.numpy().astype(npdt).tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    outdir = os.path.join(root, "transformer", "testdata")
    os.makedirs(outdir, exist_ok=True)
    for preset in sys.argv[1:] or ["tiny", "small"]:
        tensors, meta = reference(preset)
        path = os.path.join(outdir, "torch_reference_%s.safetensors" % preset)
        write_safetensors(path, tensors, meta)
        print("%s: loss %.6f, losses %s, %d bytes -> %s" % (
            preset, tensors["loss"].item(), " ".join("%.4f" % x for x in tensors["losses"].tolist()),
            os.path.getsize(path), os.path.relpath(path, root)))


if __name__ == "__main__":
    main()
