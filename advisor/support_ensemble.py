"""A calibrated combination of the component checkers: logistic regression over their log-odds.

The weights live in support_ensemble.json beside this file and are written by
`python -m evals fit-ensemble`, which fits them on the labelled dev sets and records how they did on the
set they were NOT fitted on (see evals/grounding_check.py). The file lists several models, best first;
the first whose components can be built here is used, so a machine without an LLM still gets the
calibrated lexical + embedding combination instead of an error.

A sentence found verbatim in a passage is supported whatever the models think, and skipping them for it
makes the common case of an answer quoting its source cost ~1 ms instead of an LLM call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from advisor.support import CheckerParts, CheckerUnavailable, SupportChecker, check_inputs, logit, sigmoid
from advisor.support_lexical import LexicalChecker

WEIGHTS_PATH = Path(__file__).with_name("support_ensemble.json")
VERBATIM = 0.999  # a lexical score this high means the claim is contained in a passage (see LexicalChecker)
FAKE_BACKENDS = {"scripted", "echo"}  # their "verdicts" are scripts, not judgements


@dataclass(frozen=True)
class EnsembleModel:
    components: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float

    @staticmethod
    def rule_decides(scores: Mapping[str, float]) -> bool:
        """True when the verbatim rule settles the claim and the weights are not consulted (nor fitted on)."""
        return scores.get("lexical", 0.0) >= VERBATIM

    @staticmethod
    def features(components: Sequence[str], scores: Mapping[str, float]) -> list[float]:
        """The regression's inputs: each component's log-odds (scores near 0/1 stay finite)."""
        return [logit(scores[c]) for c in components]

    def combine(self, scores: Mapping[str, float]) -> float:
        """P(supported) from the components' support scores (the same rule fitting and scoring use)."""
        if self.rule_decides(scores):
            return scores["lexical"]
        z = self.intercept + sum(
            w * x for w, x in zip(self.coef, self.features(self.components, scores), strict=True)
        )
        return sigmoid(z)

    def to_dict(self) -> dict:
        return {"components": list(self.components), "coef": list(self.coef), "intercept": self.intercept}

    @staticmethod
    def weights_path() -> Path:
        """Where EnsembleChecker reads its models (and `python -m evals fit-ensemble` writes them)."""
        return WEIGHTS_PATH

    @classmethod
    def from_dict(cls, d: Mapping) -> EnsembleModel:
        comps, coef = tuple(d["components"]), tuple(float(w) for w in d["coef"])
        if len(comps) != len(coef) or not comps:
            raise ValueError(f"ensemble model needs one weight per component, got {comps} / {coef}")
        return cls(comps, coef, float(d["intercept"]))


def load_models(path: Path = WEIGHTS_PATH) -> list[EnsembleModel]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [EnsembleModel.from_dict(m) for m in data["models"]]
    except FileNotFoundError:
        raise CheckerUnavailable(
            f"ensemble weights {path.name} are missing; fit them with `python -m evals fit-ensemble`"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckerUnavailable(f"ensemble weights {path} are unreadable: {exc}") from None


class EnsembleChecker:
    name = "ensemble"

    def __init__(self, model: EnsembleModel, checkers: Mapping[str, SupportChecker]):
        missing = [c for c in model.components if c not in checkers]
        if missing:
            raise ValueError(f"ensemble needs checkers for {missing}")
        self.model = model
        self.checkers = {c: checkers[c] for c in model.components}
        self._lexical = checkers.get("lexical") or LexicalChecker()

    @classmethod
    def from_parts(cls, parts: CheckerParts, *, weights_path: Path = WEIGHTS_PATH) -> EnsembleChecker:
        """The first stored model whose components can all be built here (by name, from `parts`)."""
        settings = parts.settings
        reasons = []
        for model in load_models(weights_path):
            if (
                "llm" in model.components
                and not parts.generator_given
                and settings.llm_backend in FAKE_BACKENDS
            ):
                reasons.append(f"{'+'.join(model.components)}: no real LLM in profile {settings.profile!r}")
                continue
            try:
                checkers = {c: parts.checker(c) for c in model.components}
            except (CheckerUnavailable, ImportError, OSError, RuntimeError) as exc:
                reasons.append(f"{'+'.join(model.components)}: {exc}")
                continue
            return cls(model, checkers)
        raise CheckerUnavailable("no ensemble model can be built here: " + "; ".join(reasons))

    def describe(self) -> dict:
        return {"components": list(self.model.components), **self.model.to_dict()}

    def component_scores(self, claim: str, passages: Sequence[str]) -> dict[str, float]:
        scores = {"lexical": self._lexical.score(claim, passages)}
        if scores["lexical"] >= VERBATIM:
            return scores
        for name, checker in self.checkers.items():
            if name not in scores:
                scores[name] = checker.score(claim, passages)
        return scores

    def score(self, claim: str, passages: Sequence[str]) -> float:
        claim, passages = check_inputs(claim, passages)
        return self.model.combine(self.component_scores(claim, passages))
