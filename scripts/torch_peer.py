#!/usr/bin/env python3
"""The PyTorch peer of `baton train`: the same model, batch and optimizer on one GPU.

Trains baton's GPT-2 style decoder (pre-LayerNorm, causal attention, MLP of width 4C
with tanh-GELU, biases, LM head tied to the token embedding) with AdamW
(betas 0.9/0.95, eps 1e-8, weight decay on matrices only) and baton's learning-rate
schedule (linear warm-up, then cosine to --min-lr), in each of the asked modes:

    eager-fp32  eager-tf32  eager-bf16  compile-fp32  compile-tf32  compile-bf16

(fp32: full-precision matmuls; tf32: TF32 matmuls and convolutions; bf16: bf16
autocast with fp32 master weights, as in nanoGPT/llm.c). Each mode runs --warmup-iters
untimed steps (torch.compile's compilation, cuBLAS heuristics, the allocator), then
--steps timed ones, and writes one CSV row in the format of baton's bench CSV
(bench/table.go: model, devices, schedule, precision, microbatches, chunks,
tokens_per_sec, bubble_measured, bubble_simulated, bubble_analytic, step_s,
idle_frac_0, peak_bytes_0), with devices = 1 (the device count, as baton writes
it), schedule = torch-eager or torch-compile, precision = fp32, tf32 or bf16,
microbatches = chunks = 1, the bubbles and idle empty (no pipeline) and
peak_bytes_0 = torch.cuda.max_memory_allocated. `baton bench --peer FILE` puts
these rows beside baton's.

Tokens are uniformly random (the default; throughput does not depend on them), or
bytes of a corpus file (--data, byte-level, so only for models with vocab >= 256).

    python3 scripts/torch_peer.py --model gpt2-124m --batch 8 --steps 20 --out peer.csv
    python3 scripts/torch_peer.py --model small --modes eager-fp32,compile-bf16 --out peer.csv
"""

import argparse
import csv
import math
import os
import sys
import time

# baton's presets (model/config.go): V, T (n_positions), C, NH, L.
PRESETS = {
    "tiny": dict(V=256, T=16, C=32, NH=4, L=2),
    "small": dict(V=256, T=128, C=128, NH=4, L=8),
    "gpt2-124m": dict(V=50304, T=1024, C=768, NH=12, L=12),
}
MODES = ["eager-fp32", "eager-tf32", "eager-bf16", "compile-fp32", "compile-tf32", "compile-bf16"]
CSV_HEADER = ["model", "devices", "schedule", "precision", "microbatches", "chunks", "tokens_per_sec",
              "bubble_measured", "bubble_simulated", "bubble_analytic", "step_s",
              "idle_frac_0", "peak_bytes_0"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="modes: " + ", ".join(MODES))
    p.add_argument("--model", default="small", choices=sorted(PRESETS), help="baton preset (default small)")
    p.add_argument("--batch", type=int, default=8, help="sequences per step (baton --batch; default 8)")
    p.add_argument("--seq", type=int, default=0, help="tokens per sequence (default: the model's n_positions)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per mode (default 20)")
    p.add_argument("--warmup-iters", type=int, default=5,
                   help="untimed steps before timing, compilation included (default 5)")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated modes (default: all six)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (baton --lr; default 1e-3)")
    p.add_argument("--min-lr", type=float, default=1e-4, help="final learning rate (baton --min-lr; default 1e-4)")
    p.add_argument("--warmup", type=int, default=30, help="learning-rate warm-up steps (baton --warmup; default 30)")
    p.add_argument("--weight-decay", type=float, default=0.1, help="on matrices only (default 0.1)")
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping; 0 turns it off (default 1.0)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", default="", help="byte-level corpus file (default: random tokens)")
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--no-fused", action="store_true", help="use the foreach AdamW instead of fused=True")
    p.add_argument("--out", default="", help="CSV to append rows to (header written when new); default stdout")
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in args.modes if m not in MODES]
    if bad:
        p.error("unknown mode(s) %s; choose from %s" % (", ".join(bad), ", ".join(MODES)))
    cfg = PRESETS[args.model]
    if args.seq == 0:
        args.seq = cfg["T"]
    if not 1 <= args.seq <= cfg["T"]:
        p.error("--seq %d: want 1..%d (the model's n_positions)" % (args.seq, cfg["T"]))
    for name in ("batch", "steps"):
        if getattr(args, name) < 1:
            p.error("--%s must be at least 1" % name)
    if args.warmup_iters < 0:
        p.error("--warmup-iters must be at least 0")
    if args.data and cfg["V"] < 256:
        p.error("--data is byte-level and needs a vocabulary of at least 256")
    return args


def lr_at(t, max_lr, min_lr, warmup, end):
    """baton's LRSchedule.At (runtime/lr.go) for the 1-based step t."""
    if t <= warmup:
        return max_lr * t / max(warmup, 1)
    if t >= end:
        return min_lr
    frac = (t - warmup) / (end - warmup)
    return min_lr + 0.5 * (1 + math.cos(math.pi * frac)) * (max_lr - min_lr)


def build(torch, cfg):
    """The model class, defined here so that importing this file needs no torch."""
    nn = torch.nn
    F = torch.nn.functional

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            C = cfg["C"]
            self.nh = cfg["NH"]
            self.c_attn = nn.Linear(C, 3 * C)
            self.c_proj = nn.Linear(C, C)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(C, dim=2)
            q, k, v = (z.view(B, T, self.nh, C // self.nh).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            C = cfg["C"]
            self.ln_1 = nn.LayerNorm(C, eps=1e-5)
            self.attn = Attention()
            self.ln_2 = nn.LayerNorm(C, eps=1e-5)
            self.c_fc = nn.Linear(C, 4 * C)
            self.c_proj = nn.Linear(4 * C, C)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            C = cfg["C"]
            self.wte = nn.Embedding(cfg["V"], C)
            self.wpe = nn.Embedding(cfg["T"], C)
            self.h = nn.ModuleList(Block() for _ in range(cfg["L"]))
            self.ln_f = nn.LayerNorm(C, eps=1e-5)
            # GPT-2 initialisation, as baton's (transformer/params.go): N(0, 0.02),
            # the projections into the residual stream scaled by 1/sqrt(2L), biases 0.
            std = 0.02
            for name, prm in self.named_parameters():
                if name.endswith("bias"):
                    nn.init.zeros_(prm)
                elif "ln_" in name:
                    nn.init.ones_(prm)
                elif name.endswith("c_proj.weight"):
                    nn.init.normal_(prm, 0.0, std / math.sqrt(2 * cfg["L"]))
                else:
                    nn.init.normal_(prm, 0.0, std)

        def forward(self, idx, targets):
            T = idx.shape[1]
            pos = torch.arange(T, device=idx.device)
            x = self.wte(idx) + self.wpe(pos)
            for blk in self.h:
                x = blk(x)
            logits = F.linear(self.ln_f(x), self.wte.weight)  # the tied LM head
            return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1))

    return GPT()


def batches(torch, args, cfg, device):
    """Yields (inputs, targets) of shape (batch, seq): a pure function of (seed, step)."""
    B, T = args.batch, args.seq
    if args.data:
        raw = open(args.data, "rb").read()
        if len(raw) < T + 2:
            sys.exit("torch_peer: %s has %d bytes, fewer than a sequence (%d)" % (args.data, len(raw), T + 1))
        data = torch.frombuffer(bytearray(raw), dtype=torch.uint8).to(device=device, dtype=torch.long)
    gen = torch.Generator(device=device)
    step = 0
    while True:
        step += 1
        gen.manual_seed(args.seed * 1_000_003 + step)
        if args.data:
            starts = torch.randint(0, data.numel() - T - 1, (B, 1), device=device, generator=gen)
            idx = starts + torch.arange(T + 1, device=device)
            seq = data[idx]
        else:
            seq = torch.randint(0, cfg["V"], (B, T + 1), device=device, generator=gen)
        yield seq[:, :-1], seq[:, 1:]


def run_mode(torch, args, cfg, mode):
    how, prec = mode.split("-")
    device = torch.device(args.device)
    tf32 = prec == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.manual_seed(args.seed)

    model = build(torch, cfg).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt_kw = dict(lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    if not args.no_fused:
        opt_kw["fused"] = True
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], **opt_kw)
    fwd = torch.compile(model) if how == "compile" else model

    total = args.warmup_iters + args.steps
    data = batches(torch, args, cfg, device)

    def step(t):
        x, y = next(data)
        lr = lr_at(t, args.lr, args.min_lr, args.warmup, total)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=prec == "bf16"):
            loss = fwd(x, y)
        loss.backward()
        if args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for t in range(1, args.warmup_iters + 1):
        step(t)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for t in range(args.warmup_iters + 1, total + 1):
        loss = step(t)
    torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    step_s = elapsed / args.steps
    tps = args.batch * args.seq / step_s
    peak = torch.cuda.max_memory_allocated(device)
    print("torch_peer: %-12s %s B=%d T=%d: %.0f tokens/s, %.2f ms/step, loss %.4f, peak %.0f MiB"
          % (mode, args.model, args.batch, args.seq, tps, step_s * 1e3, loss.item(), peak / 2**20),
          file=sys.stderr)
    row = [args.model, "1", "torch-" + how, prec, "1", "1", "%.1f" % tps, "", "", "", "%.6f" % step_s, "", str(peak)]
    del fwd, model, opt, data
    torch.cuda.empty_cache()
    if how == "compile":
        torch._dynamo.reset()
    return row


def write_rows(path, rows):
    if not path:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(CSV_HEADER)
        w.writerows(rows)
        return
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    if not new:
        with open(path, newline="") as f:
            head = next(csv.reader(f), [])
        if head != CSV_HEADER:
            print("torch_peer: warning: %s has another header (%s); appending anyway"
                  % (path, ",".join(head)), file=sys.stderr)
    with open(path, "a", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if new:
            w.writerow(CSV_HEADER)
        w.writerows(rows)


def main(argv=None):
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        sys.exit("torch_peer: PyTorch is not installed (pip install torch)")
    if not torch.cuda.is_available():
        sys.exit("torch_peer: no CUDA device visible to PyTorch")
    cfg = PRESETS[args.model]
    print("torch_peer: torch %s, %s, %s" % (torch.__version__, args.device,
                                           torch.cuda.get_device_name(torch.device(args.device))), file=sys.stderr)
    rows = []
    for mode in args.modes:
        try:
            row = run_mode(torch, args, cfg, mode)
        except torch.cuda.OutOfMemoryError as e:
            print("torch_peer: %s: out of memory (%s); skipped" % (mode, str(e).splitlines()[0]), file=sys.stderr)
            torch.cuda.empty_cache()
            continue
        rows.append(row)
        # Write after each mode, so a later failure (a compile error) keeps what ran.
        if args.out:
            write_rows(args.out, [row])
    if not args.out:
        write_rows("", rows)


if __name__ == "__main__":
    main()
