#!/usr/bin/env python3
# bench/torch-reference.py: an independent PyTorch reference for the nanoGPT Shakespeare-char
# CPU recipe (n_layer 4, n_head 4, n_embd 128, block 64, batch 12, dropout 0, no biases, AdamW
# lr 1e-3 -> 1e-4 with 100 warmup and cosine decay to iter 2000, betas (0.9, 0.99), weight decay
# 0.1 on >= 2-D parameters only, grad clip 1.0, exact GELU, tied LM head, GPT-2 init), written
# from that description for this repository (not copied from nanoGPT). It is a benchmark peer,
# not a project dependency: nothing in src/ or the tests needs it.
#
# Needs Debian's PyTorch and NumPy (apt-get install python3-torch python3-numpy) and runs with the
# system interpreter, /usr/bin/python3 (a pyenv python3 earlier on PATH may lack torch). It always
# uses one CPU thread. Debian's torch calls whatever libblas.so.3 the system provides; with the
# reference BLAS (libblas3) a step takes ~0.8 s on one core. OpenBLAS is ~16x faster on the matmuls;
# without installing anything system-wide it can be unpacked and preloaded for this process only:
#   mkdir -p /tmp/openblas && cd /tmp/openblas && apt-get download libopenblas0-serial && \
#     dpkg -x libopenblas0-serial_*.deb root
#   LD_LIBRARY_PATH=/tmp/openblas/root/usr/lib/x86_64-linux-gnu/openblas-serial /usr/bin/python3 bench/torch-reference.py ...
# (the serial build: single-threaded). The BLAS in use is printed and recorded in the JSON.
#
# Two modes, run from the repository root:
#
#   /usr/bin/python3 bench/torch-reference.py --from-engine DIR [--compare-log LOG] [--max-iters N]
#       Starts from the engine's initial weights, read from a `gpt train` checkpoint directory DIR
#       (checkpoint.json + model-*.safetensors, parsed here with NumPy), and replays exactly the
#       engine's batches: the Trainer's splitmix64 Generator (src/tensor/generator.ts) ported to
#       Python ints, train batches from Generator(seed + 1), every evaluation from fresh
#       Generator(seed + 2) (train) and Generator(seed + 3) (val), evaluations at step 0, every
#       eval_interval and after the last step. The engine saves only after a step, so a step-0
#       checkpoint comes from a one-step run with a learning rate of 1e-30, whose update rounds away:
#         node bin/gpt.js train --data ../shared/data/tinyshakespeare.txt --out-dir /tmp/eng0 \
#           --max-iters 1 --learning-rate 1e-30 --min-lr 1e-30 --always-save
#       (the flag takes no 0; an update of 1e-30 is far below a float32 ulp of the weights, ~1e-9)
#       --compare-log takes the log.jsonl of an engine run of the same seed (e.g.
#         node bin/gpt.js train --data ../shared/data/tinyshakespeare.txt --out-dir /tmp/engrun \
#           --max-iters 200 --eval-interval 100)
#       and reports the largest |loss difference| over the steps both logged, and over the evals.
#       Writes bench/results/torch-reference-engine-init.json (or --out).
#
#   /usr/bin/python3 bench/torch-reference.py [--seed S]          (default S = 1337)
#       nanoGPT's own seeding: torch.manual_seed(S), the model initialised by torch, batches from
#       torch.randint(len(data) - block_size, (batch,)), each evaluation a fresh 20 random
#       batches per split (as nanoGPT's estimate_loss). Writes bench/results/torch-reference-seed-S.json.
#
# Both modes print the loss every log_interval steps and every evaluation, and report the final
# val loss (the 20-batch estimate) and the loss over the whole val split (every position once:
# consecutive non-overlapping 64-token windows with their next-token targets, as
# bench/shakespeare-char.ts's fullValLoss). Steps are counted as the engine logs them: "step s"
# is the loss of the s-th optimizer step (nanoGPT prints it as iter s - 1).
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass

RECIPE = dict(
    n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, dropout=0.0, bias=False,
    learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, lr_decay_iters=2000, beta1=0.9, beta2=0.99,
    weight_decay=0.1, grad_clip=1.0, max_iters=2000, eval_interval=250, eval_iters=20, log_interval=10,
)
CORPUS = '../shared/data/tinyshakespeare.txt'
MASK64 = (1 << 64) - 1


# ---------------------------------------------------------------------------------------------
# data

def load_corpus(path):
    with open(path, 'rb') as f:
        text = f.read().decode('utf-8')
    chars = sorted(set(text))  # code-point order
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.array([stoi[c] for c in text], dtype=np.int64)
    n = int(len(ids) * 0.9)
    return chars, ids[:n], ids[n:]


class SplitMix64:
    """The engine's Generator (src/tensor/generator.ts): splitmix64, nextInt(n) = next64 % n."""

    def __init__(self, seed):
        self.state = int(seed) & MASK64

    def next64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def next_int(self, n):
        return self.next64() % n


def blocks(data, starts, T):
    x = np.stack([data[s:s + T] for s in starts])
    y = np.stack([data[s + 1:s + 1 + T] for s in starts])
    return torch.from_numpy(x), torch.from_numpy(y)


def engine_batch(data, rng, B, T):
    # Trainer.batch: B starts, each rng.nextInt(len - T), drawn in row order (nanoGPT's range, below)
    return blocks(data, [rng.next_int(len(data) - T) for _ in range(B)], T)


def torch_batch(data, B, T):
    # nanoGPT's get_batch: torch.randint(len(data) - block_size, (batch_size,))
    ix = torch.randint(len(data) - T, (B,))
    return blocks(data, ix.tolist(), T)


# ---------------------------------------------------------------------------------------------
# model (GPT-2 names, as the engine's checkpoints; Linear weights [out, in])

class LayerNormNoBias(nn.Module):
    def __init__(self, dim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_head = c['n_head']
        self.c_attn = nn.Linear(c['n_embd'], 3 * c['n_embd'], bias=c['bias'])
        self.c_proj = nn.Linear(c['n_embd'], c['n_embd'], bias=c['bias'])
        T = c['block_size']
        self.register_buffer('mask', torch.tril(torch.ones(T, T, dtype=torch.bool)), persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        hs = C // self.n_head
        q, k, v = (t.view(B, T, self.n_head, hs).transpose(1, 2) for t in (q, k, v))  # [B, NH, T, HS]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(~self.mask[:T, :T], float('-inf')).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c['n_embd'], 4 * c['n_embd'], bias=c['bias'])
        self.gelu = nn.GELU()  # exact (erf)
        self.c_proj = nn.Linear(4 * c['n_embd'], c['n_embd'], bias=c['bias'])

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = LayerNormNoBias(c['n_embd'], c['bias'])
        self.attn = Attention(c)
        self.ln_2 = LayerNormNoBias(c['n_embd'], c['bias'])
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c, vocab_size):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, c['n_embd'])
        self.wpe = nn.Embedding(c['block_size'], c['n_embd'])
        self.h = nn.ModuleList([Block(c) for _ in range(c['n_layer'])])
        self.ln_f = LayerNormNoBias(c['n_embd'], c['bias'])
        # GPT-2 init: every Linear / Embedding weight N(0, 0.02), residual projections
        # N(0, 0.02 / sqrt(2 n_layer)), biases 0, LayerNorm gains 1; LM head = wte (tied)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * c['n_layer']) if name.endswith('c_proj.weight') else 0.02
                nn.init.normal_(p, mean=0.0, std=std)
            elif name.endswith('bias'):
                nn.init.zeros_(p)

    def forward(self, idx, targets=None):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        loss = None if targets is None else F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss


# ---------------------------------------------------------------------------------------------
# engine checkpoints

SAFETENSORS_DTYPES = {'F32': '<f4', 'F16': '<f2', 'I32': '<i4', 'I64': '<i8', 'U8': 'u1'}


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    meta = header.pop('__metadata__', {})
    body = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        begin, end = info['data_offsets']
        if info['dtype'] == 'BF16':
            bits = np.frombuffer(body[begin:end], dtype='<u2').astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = np.frombuffer(body[begin:end], dtype=SAFETENSORS_DTYPES[info['dtype']])
        tensors[name] = arr.reshape(info['shape']).astype(np.float32)
    return tensors, meta


def load_engine_checkpoint(d):
    with open(os.path.join(d, 'checkpoint.json')) as f:
        manifest = json.load(f)
    tensors, meta = read_safetensors(os.path.join(d, manifest['weights']))
    info = json.loads(meta['webgpu_gpt'])
    weights = {k: v for k, v in tensors.items() if not k.startswith('optim.')}
    return weights, info, manifest


# ---------------------------------------------------------------------------------------------
# training

def lr_at(it, c):
    if it < c['warmup_iters']:
        return c['learning_rate'] * (it + 1) / (c['warmup_iters'] + 1)
    if it > c['lr_decay_iters']:
        return c['min_lr']
    ratio = (it - c['warmup_iters']) / (c['lr_decay_iters'] - c['warmup_iters'])
    return c['min_lr'] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (c['learning_rate'] - c['min_lr'])


def make_optimizer(model, c):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{'params': decay, 'weight_decay': c['weight_decay']}, {'params': no_decay, 'weight_decay': 0.0}]
    return torch.optim.AdamW(groups, lr=c['learning_rate'], betas=(c['beta1'], c['beta2']), eps=1e-8)


@torch.no_grad()
def full_val_loss(model, val, T, rows_per_batch=64):
    # bench/shakespeare-char.ts fullValLoss: floor((len - 1) / T) consecutive windows, 64 at a time,
    # each batch's mean weighted by its row count
    windows = (len(val) - 1) // T
    total = 0.0
    for w0 in range(0, windows, rows_per_batch):
        rows = min(rows_per_batch, windows - w0)
        x = torch.from_numpy(val[w0 * T:(w0 + rows) * T].reshape(rows, T))
        y = torch.from_numpy(val[w0 * T + 1:(w0 + rows) * T + 1].reshape(rows, T))
        total += rows * model(x, y)[1].item()
    return total / windows


def train(model, c, train_data, val_data, draw_train, evaluate):
    opt = make_optimizer(model, c)
    params = list(model.parameters())
    losses, evals = {}, []
    B, T = c['batch_size'], c['block_size']
    t0 = time.perf_counter()
    t_last, s_last = t0, 0
    step_seconds = 0.0

    def do_eval(step):
        model.eval()
        with torch.no_grad():
            r = evaluate()
        model.train()
        evals.append({'step': step, **r})
        print(f"step {step}: train {r['train']:.4f}, val {r['val']:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)

    for it in range(c['max_iters']):
        if it % c['eval_interval'] == 0:
            do_eval(it)
            t_last, s_last = time.perf_counter(), it
        lr = lr_at(it, c)
        for g in opt.param_groups:
            g['lr'] = lr
        ts = time.perf_counter()
        x, y = draw_train()
        _, loss = model(x, y)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, c['grad_clip']) if c['grad_clip'] > 0 else None
        opt.step()
        opt.zero_grad(set_to_none=True)
        step_seconds += time.perf_counter() - ts
        step = it + 1
        losses[step] = loss.item()
        if step % c['log_interval'] == 0 or step == c['max_iters']:
            now = time.perf_counter()
            ms = 1000 * (now - t_last) / max(1, step - s_last)
            gn = f", grad norm {norm.item():.4f}" if norm is not None else ''
            print(f"step {step}: loss {losses[step]:.4f}, lr {lr:.2e}{gn}, {ms:.1f} ms/step", flush=True)
            t_last, s_last = now, step
    do_eval(c['max_iters'])
    wall = time.perf_counter() - t0
    return losses, evals, wall, step_seconds


def compare_with_engine_log(path, losses, evals):
    eng_loss, eng_eval = {}, {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get('type') == 'train':
                eng_loss[r['step']] = r['loss']
            elif r.get('type') == 'eval':
                eng_eval[r['step']] = r
    steps = sorted(s for s in eng_loss if s in losses)
    diffs = {s: losses[s] - eng_loss[s] for s in steps}
    ev = []
    for e in evals:
        if e['step'] in eng_eval:
            g = eng_eval[e['step']]
            ev.append({'step': e['step'], 'train_diff': e['train'] - g['train'], 'val_diff': e['val'] - g['val']})
    out = {
        'engine_log': path,
        'steps_compared': steps,
        'max_abs_loss_diff': max((abs(d) for d in diffs.values()), default=None),
        'mean_abs_loss_diff': (sum(abs(d) for d in diffs.values()) / len(diffs)) if diffs else None,
        'loss_diff_by_step': {str(s): d for s, d in diffs.items()},
        'engine_loss_by_step': {str(s): eng_loss[s] for s in steps},
        'eval_diffs': ev,
        'max_abs_eval_diff': max((max(abs(e['train_diff']), abs(e['val_diff'])) for e in ev), default=None),
    }
    print(f"vs engine log {path}: {len(steps)} logged steps, max |loss diff| {out['max_abs_loss_diff']}, "
          f"mean {out['mean_abs_loss_diff']}; evals max |diff| {out['max_abs_eval_diff']}")
    for s in steps:
        print(f"  step {s:5d}: torch {losses[s]:.6f}  engine {eng_loss[s]:.6f}  diff {diffs[s]:+.2e}")
    for e in ev:
        print(f"  eval {e['step']:5d}: train diff {e['train_diff']:+.2e}  val diff {e['val_diff']:+.2e}")
    return out


def loaded_blas():
    try:
        with open('/proc/self/maps') as f:
            libs = {line.split()[-1] for line in f if 'blas' in line.lower() or 'lapack' in line.lower()}
        return sorted(l for l in libs if l.startswith('/'))
    except OSError:
        return []


def main():
    ap = argparse.ArgumentParser(description='PyTorch reference for the nanoGPT Shakespeare-char CPU recipe')
    ap.add_argument('--from-engine', metavar='DIR', help="start from an engine checkpoint's weights and replay the engine's batches")
    ap.add_argument('--seed', type=int, default=None, help='torch seed (default 1337); with --from-engine, overrides the seed read from the checkpoint')
    ap.add_argument('--max-iters', type=int, default=RECIPE['max_iters'])
    ap.add_argument('--eval-interval', type=int, default=RECIPE['eval_interval'])
    ap.add_argument('--eval-iters', type=int, default=RECIPE['eval_iters'])
    ap.add_argument('--data', default=CORPUS)
    ap.add_argument('--compare-log', metavar='LOG', help="an engine run's log.jsonl to compare the logged losses with")
    ap.add_argument('--out', help='JSON result path (default bench/results/torch-reference-{engine-init,seed-S}.json)')
    args = ap.parse_args()

    c = dict(RECIPE, max_iters=args.max_iters, eval_interval=args.eval_interval, eval_iters=args.eval_iters)
    chars, train_data, val_data = load_corpus(args.data)
    V, B, T = len(chars), c['batch_size'], c['block_size']
    torch.ones(2, 2) @ torch.ones(2, 2)  # loads the BLAS
    blas = loaded_blas()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, BLAS {', '.join(blas) or '?'}; "
          f"vocab {V}, train {len(train_data)}, val {len(val_data)}")

    result = {'reference': 'bench/torch-reference.py (PyTorch, nanoGPT shakespeare-char CPU recipe)',
              'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas, 'config': c}

    if args.from_engine:
        weights, info, manifest = load_engine_checkpoint(args.from_engine)
        m, tc, ts = info['model'], info.get('train', {}), info.get('trainer', {})
        seed = args.seed if args.seed is not None else tc.get('seed', 1337)
        expect = {'vocabSize': V, 'blockSize': T, 'nLayer': c['n_layer'], 'nHead': c['n_head'], 'nEmbd': c['n_embd'], 'bias': c['bias']}
        bad = {k: (m.get(k), v) for k, v in expect.items() if m.get(k) != v}
        if bad:
            sys.exit(f'checkpoint model config differs from the recipe (checkpoint, recipe): {bad}')
        # an update of lr 1e-30 is far below a float32 ulp of these weights: still the initial ones
        if ts.get('step', 0) != 0 and tc.get('learningRate', 1) > 1e-20:
            print(f"warning: checkpoint is at step {ts.get('step')} with lr {tc.get('learningRate')}: not the initial weights", flush=True)
        torch.manual_seed(0)  # only the throwaway default init below; every weight is then overwritten
        model = GPT(c, V)
        own = dict(model.named_parameters())
        if set(own) != set(weights):
            sys.exit(f'parameter names differ: only in checkpoint {sorted(set(weights) - set(own))}, only here {sorted(set(own) - set(weights))}')
        init_stats = {}
        with torch.no_grad():
            for name, p in own.items():
                w = weights[name]
                if tuple(w.shape) != tuple(p.shape):
                    sys.exit(f'{name}: checkpoint shape {w.shape}, expected {tuple(p.shape)} (PyTorch layout, Linear [out, in])')
                p.copy_(torch.from_numpy(w.copy()))
                init_stats[name] = {'mean': float(w.mean()), 'std': float(w.std())}
        print(f"engine checkpoint {args.from_engine} ({manifest['weights']}): seed {seed}, trainer step {ts.get('step')}, "
              f"train lr {tc.get('learningRate')}")
        for name in ('wte.weight', 'wpe.weight', 'h.0.attn.c_attn.weight', 'h.0.attn.c_proj.weight', 'h.0.mlp.c_fc.weight', 'h.0.mlp.c_proj.weight', 'h.0.ln_1.weight'):
            s = init_stats[name]
            print(f"  init {name:24s} mean {s['mean']:+.5f} std {s['std']:.5f}")
        data_rng = SplitMix64(seed + 1)

        def draw_train():
            return engine_batch(train_data, data_rng, B, T)

        def evaluate():
            r = {}
            for split, data, off in (('train', train_data, 2), ('val', val_data, 3)):
                rng = SplitMix64(seed + off)
                r[split] = sum(model(*engine_batch(data, rng, B, T))[1].item() for _ in range(c['eval_iters'])) / c['eval_iters']
            return r

        result.update(mode='from-engine', engine_checkpoint=os.path.abspath(args.from_engine), seed=seed, init_stats=init_stats)
        out = args.out or 'bench/results/torch-reference-engine-init.json'
    else:
        seed = 1337 if args.seed is None else args.seed
        torch.manual_seed(seed)
        model = GPT(c, V)
        pending = [torch_batch(train_data, B, T)]  # nanoGPT fetches the first batch before the loop

        def draw_train():
            # nanoGPT fetches the next batch right after the forward pass; drawing it here, after
            # this step's evaluation, keeps the same order of torch RNG draws
            batch = pending.pop()
            pending.append(torch_batch(train_data, B, T))
            return batch

        def evaluate():
            r = {}
            for split, data in (('train', train_data), ('val', val_data)):
                r[split] = sum(model(*torch_batch(data, B, T))[1].item() for _ in range(c['eval_iters'])) / c['eval_iters']
            return r

        result.update(mode='seed', seed=seed)
        out = args.out or f'bench/results/torch-reference-seed-{seed}.json'

    n_params = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    print(f"model: {n_params / 1e6:.2f}M parameters (excluding position embeddings)", flush=True)
    model.train()
    losses, evals, wall, step_seconds = train(model, c, train_data, val_data, draw_train, evaluate)
    model.eval()
    fv = full_val_loss(model, val_data, T)
    final_val = evals[-1]['val']
    ms_per_iter = 1000 * step_seconds / c['max_iters']
    print(f"final val loss {final_val:.4f} (20-batch estimate), whole val split {fv:.4f}; "
          f"{wall:.0f} s wall, {ms_per_iter:.1f} ms/iter (train steps only)")
    result.update(final_val_loss=final_val, full_val_loss=fv, wall_seconds=wall, ms_per_iter=ms_per_iter,
                  evals=evals, losses={str(s): l for s, l in losses.items()},
                  date=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    if args.compare_log:
        result['engine_comparison'] = compare_with_engine_log(args.compare_log, losses, evals)
    os.makedirs(os.path.dirname(out) or '.', exist_ok=True)
    with open(out, 'w') as f:
        json.dump(result, f, indent=1)
        f.write('\n')
    print(f"wrote {out}")


if __name__ == '__main__':
    main()
