#!/usr/bin/python3
"""Train the small epsilon-prediction network on the 8x8 UCI digits and export it to ONNX.

Run with Debian's Python (not a pyenv one):   /usr/bin/python3 tools/train_digits.py
Needs the Debian packages python3-torch (1.13), python3-sklearn (1.2), python3-onnx (1.12),
python3-numpy. Not run in CI: its outputs are committed under models/.

Writes
  models/digits-eps.onnx         the network (opset 13, dynamic batch), with condiff metadata
  models/digits-classifier.json  multinomial logistic regression on the training split
  models/digits-test.json        the held-out test split: indices into digits.csv.gz, labels, pixels
  models/training-log.json       recipe, losses, timings, accuracies (quoted in models/README.md)

With --conditional (docs/MATH.md §12), only
  models/digits-cond-eps.onnx    a class-conditional network: a third input `label` (int64 [batch],
                                 0..9, or 10 = the null class), trained with the label replaced by
                                 10 with probability --uncond-prob (guidance dropout); metadata
                                 condiff.class_input = label, condiff.null_class = 10
  models/training-log-cond.json  its recipe, losses and timings
(the classifier and the test split are the unconditional run's, left as they are).

Recipe (see models/README.md): pixels 0..16 scaled to [-1, 1] as x / 8 - 1; stratified
80/20 split (random_state 0); DDPM linear betas 1e-4..0.02, K = 1000; the network takes the
0-based step n = 0..999 (Ho et al.'s alphas_cumprod[n], which is condiff's alpha-bar_{n+1});
epsilon-prediction MSE, uniform n; Adam, cosine learning-rate decay, EMA of the weights.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, '..', 'models')
K = 1000


class TimeEmbedding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        half = dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer('freqs', freqs)

    def forward(self, n):
        a = n.to(torch.float32)[:, None] * self.freqs[None, :]
        return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


class Block(nn.Module):
    def __init__(self, width, temb, dropout=0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.t = nn.Linear(temb, width)
        self.fc2 = nn.Linear(width, width)
        self.act = nn.SiLU()

    def forward(self, h, e):
        u = self.fc1(self.norm(h)) + self.t(e)
        return h + self.fc2(self.drop(self.act(u)))


class EpsNet(nn.Module):
    """x: [batch, 64] float32 in noise space, n: [batch] int64 step (0..999) -> epsilon [batch, 64]."""

    def __init__(self, dim=64, width=256, blocks=4, temb=128, dropout=0.0, classes=0):
        super().__init__()
        self.embed = TimeEmbedding(temb)
        # A class embedding added to the time embedding; index `classes` is the null class.
        self.cemb = nn.Embedding(classes + 1, temb) if classes > 0 else None
        self.tmlp = nn.Sequential(nn.Linear(temb, temb), nn.SiLU(), nn.Linear(temb, temb), nn.SiLU())
        self.inp = nn.Linear(dim, width)
        self.blocks = nn.ModuleList([Block(width, temb, dropout) for _ in range(blocks)])
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, dim)
        self.act = nn.SiLU()

    def forward(self, x, n, c=None):
        e = self.tmlp(self.embed(n))
        if self.cemb is not None:
            e = e + self.cemb(c)
        h = self.inp(x)
        for b in self.blocks:
            h = b(h, e)
        return self.out(self.act(self.out_norm(h)))


def linear_alpha_bar():
    """alphas_cumprod[n] = prod_{i<=n} (1 - beta_i), n = 0..K-1 (float64), betas linear 1e-4..0.02."""
    betas = np.linspace(1e-4, 0.02, K, dtype=np.float64)
    return np.cumprod(1.0 - betas)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--iterations', type=int, default=10000)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--threads', type=int, default=1)  # 2 threads were 5-10x slower on a busy 2-core machine
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--dropout', type=float, default=0.0)
    ap.add_argument('--weight-decay', type=float, default=0.0)
    ap.add_argument('--width', type=int, default=256)
    ap.add_argument('--blocks', type=int, default=4)
    ap.add_argument('--out', default=MODELS, help='output directory (default models/)')
    ap.add_argument('--conditional', action='store_true', help='train the class-conditional network (docs/MATH.md §12)')
    ap.add_argument('--uncond-prob', type=float, default=0.1, help='guidance dropout: P(label -> null class) (default 0.1)')
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)

    digits = load_digits()  # sklearn/datasets/data/digits.csv.gz
    X = digits.data.astype(np.float32)  # 1797 x 64, integers 0..16
    y = digits.target.astype(np.int64)
    idx = np.arange(len(X))
    train_idx, test_idx = train_test_split(idx, test_size=0.2, random_state=0, stratify=y)
    train_idx.sort()
    test_idx.sort()
    scale = lambda a: a / 8.0 - 1.0

    # Classifier: multinomial logistic regression on the training split, same pixel scaling.
    t0 = time.time()
    clf = LogisticRegression(C=0.3, max_iter=5000, multi_class='multinomial')
    clf.fit(scale(X[train_idx]), y[train_idx])
    clf_train = float(clf.score(scale(X[train_idx]), y[train_idx]))
    clf_test = float(clf.score(scale(X[test_idx]), y[test_idx]))
    print(f'classifier: train accuracy {clf_train:.4f}, test accuracy {clf_test:.4f} ({time.time() - t0:.1f}s)')
    classes = 10 if args.conditional else 0
    null_class = 10
    with open(os.path.join(args.out, 'digits-classifier.json') if not args.conditional else os.devnull, 'w') as f:
        json.dump({
            'kind': 'multinomial-logistic-regression',
            'input': 'the 64 pixels row-major, scaled to [-1, 1] as x / 8 - 1',
            'classes': [int(c) for c in clf.classes_],
            'coef': [[round(float(v), 7) for v in row] for row in clf.coef_],
            'intercept': [round(float(v), 7) for v in clf.intercept_],
            'trainAccuracy': clf_train,
            'testAccuracy': clf_test,
            'trainedOn': 'training split of models/digits-test.json (all indices not in testIndices)',
        }, f, indent=None, separators=(',', ':'))
        f.write('\n')
    with open(os.path.join(args.out, 'digits-test.json') if not args.conditional else os.devnull, 'w') as f:
        f.write('{"source":"sklearn/datasets/data/digits.csv.gz (scikit-learn 1.2.1, Debian python3-sklearn 1.2.1+dfsg-1)",\n')
        f.write(' "split":"sklearn.model_selection.train_test_split(range(1797), test_size=0.2, random_state=0, stratify=target)",\n')
        f.write(' "pixels":"integers 0..16, 64 per image, row-major 8x8",\n')
        f.write(' "testIndices":' + json.dumps([int(i) for i in test_idx]) + ',\n')
        f.write(' "labels":' + json.dumps([int(v) for v in y[test_idx]]) + ',\n')
        f.write(' "images":[\n')
        f.write(',\n'.join('  ' + json.dumps([int(v) for v in X[i]]) for i in test_idx))
        f.write('\n ]}\n')

    # Diffusion model.
    ab = torch.tensor(linear_alpha_bar(), dtype=torch.float32)
    data = torch.tensor(scale(X[train_idx]))
    labels = torch.tensor(y[train_idx])
    net = EpsNet(width=args.width, blocks=args.blocks, dropout=args.dropout, classes=classes)
    ema = EpsNet(width=args.width, blocks=args.blocks, dropout=args.dropout, classes=classes)
    ema.load_state_dict(net.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    ema_params, net_params = list(ema.parameters()), list(net.parameters())
    params = sum(p.numel() for p in net.parameters())
    print(f'network: {params} parameters')
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, args.iterations) / args.iterations)) * min(1.0, (i + 1) / 200))
    decay = 0.999
    losses = []
    t0 = time.time()
    running = None
    for it in range(args.iterations):
        i = torch.randint(0, data.shape[0], (args.batch,))
        x0 = data[i]
        n = torch.randint(0, K, (args.batch,))
        eps = torch.randn_like(x0)
        a = ab[n][:, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        if args.conditional:
            c = labels[i].clone()
            c[torch.rand(args.batch) < args.uncond_prob] = null_class
            loss = ((net(xt, n, c) - eps) ** 2).mean()
        else:
            loss = ((net(xt, n) - eps) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            torch._foreach_mul_(ema_params, decay)
            torch._foreach_add_(ema_params, net_params, alpha=1 - decay)
        running = loss.item() if running is None else 0.99 * running + 0.01 * loss.item()
        if (it + 1) % 500 == 0:
            losses.append({'iteration': it + 1, 'loss': round(running, 5), 'seconds': round(time.time() - t0, 1)})
            print(f'iteration {it + 1}: loss (EMA 0.99) {running:.4f}  {time.time() - t0:.0f}s', flush=True)
    train_seconds = time.time() - t0
    for b_ema, b_net in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b_net)

    # Held-out loss of the EMA network (fixed noise draws), averaged over all steps.
    ema.eval()
    with torch.no_grad():
        g = torch.Generator().manual_seed(123)
        xt_ = torch.tensor(scale(X[test_idx]))
        tot = 0.0
        reps = 20
        for _ in range(reps):
            n = torch.randint(0, K, (xt_.shape[0],), generator=g)
            eps = torch.randn(xt_.shape, generator=g)
            a = ab[n][:, None]
            cls = torch.tensor(y[test_idx]) if args.conditional else None
            tot += float(((ema(a.sqrt() * xt_ + (1 - a).sqrt() * eps, n, cls) - eps) ** 2).mean())
        test_loss = tot / reps
    print(f'held-out epsilon MSE (EMA weights): {test_loss:.4f}')

    path = os.path.join(args.out, 'digits-cond-eps.onnx' if args.conditional else 'digits-eps.onnx')
    x_ex = torch.zeros(2, 64)
    n_ex = torch.zeros(2, dtype=torch.int64)
    if args.conditional:
        c_ex = torch.zeros(2, dtype=torch.int64)
        torch.onnx.export(ema, (x_ex, n_ex, c_ex), path, opset_version=13, input_names=['x', 'step', 'label'], output_names=['epsilon'],
                          dynamic_axes={'x': {0: 'batch'}, 'step': {0: 'batch'}, 'label': {0: 'batch'}, 'epsilon': {0: 'batch'}})
    else:
        torch.onnx.export(ema, (x_ex, n_ex), path, opset_version=13, input_names=['x', 'step'], output_names=['epsilon'],
                          dynamic_axes={'x': {0: 'batch'}, 'step': {0: 'batch'}, 'epsilon': {0: 'batch'}})
    import onnx
    m = onnx.load(path)
    meta = {
        'condiff.parameterization': 'epsilon',
        'condiff.time': 'step',
        'condiff.schedule': 'ddpm-linear',
        'condiff.K': str(K),
        'condiff.step_offset': '1',
        'condiff.input': 'x',
        'condiff.time_input': 'step',
        'condiff.output': 'epsilon',
        'condiff.data_range': '-1,1',
        'condiff.description': '8x8 UCI digits, pixels / 8 - 1; epsilon-prediction MLP; step n = 0..999 means alpha-bar_{n+1} (Ho et al. alphas_cumprod[n])',
    }
    if args.conditional:
        meta['condiff.class_input'] = 'label'
        meta['condiff.null_class'] = str(null_class)
        meta['condiff.description'] += f'; class-conditional: label 0..9, {null_class} = no class (guidance dropout {args.uncond_prob})'

    for k, v in meta.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v
    m.producer_name = 'condiff tools/train_digits.py'
    onnx.checker.check_model(m)
    onnx.save(m, path)
    size = os.path.getsize(path)
    print(f'wrote {path} ({size} bytes)')

    # Check the export against torch on random inputs.
    try:
        import onnx.reference  # noqa: F401  (not in onnx 1.12)
    except Exception:
        pass

    with open(os.path.join(args.out, 'training-log-cond.json' if args.conditional else 'training-log.json'), 'w') as f:
        json.dump({
            **({'conditional': True, 'nullClass': null_class, 'uncondProb': args.uncond_prob} if args.conditional else {}),
            'torch': torch.__version__, 'threads': args.threads, 'seed': args.seed,
            'iterations': args.iterations, 'batch': args.batch, 'lr': args.lr, 'emaDecay': decay,
            'width': args.width, 'blocks': args.blocks, 'dropout': args.dropout, 'weightDecay': args.weight_decay,
            'parameters': params, 'onnxBytes': size, 'trainSeconds': round(train_seconds, 1),
            'finalTrainLoss': round(running, 5), 'heldOutLoss': round(test_loss, 5),
            'classifier': {'C': 0.3, 'trainAccuracy': clf_train, 'testAccuracy': clf_test},
            'trainSize': int(len(train_idx)), 'testSize': int(len(test_idx)), 'losses': losses,
        }, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
