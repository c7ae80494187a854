"""The ``auto`` checker: one combination for claims in the passages' language, another across languages.

An English answer sentence citing a Chinese passage shares no words with it, so overlap cannot judge it.
Each route is a calibrated combination (support_auto.json, `python -m evals fit-auto`, cross-validated on
the answer sentences labelled by reading):

* same language:    lexical overlap + token alignment (support_align.py), fitted on the Chinese sentences;
* English:          the same two, fitted on the English sentences against the English renderings their
                    answers read (evals/rendered_sentences.py): an English answer is written from them and
                    the gate holds it to them (ground.py). English overlap and alignment are not Chinese
                    ones: the Chinese fit kept 0.9 of the supported English sentences at 0.753 BAcc, this
                    one reaches 0.83 (cross-validated, fit-auto);
* across languages: the dictionary bridge (support_bridge.py) + token alignment.

In both, a figure, scale or currency the passages do not state scores 0 (support_facts.py) before either
is asked. Without the weights file each route falls back to its first component alone (lexical / bridge),
the gate of the 2026-12-05 runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from advisor.support import CheckerParts, CheckerUnavailable, SupportChecker, check_inputs, logit, sigmoid
from advisor.support_facts import fact_mismatches
from textkit import detect_language
from textkit.numbers import spelled_as_digits

WEIGHTS = Path(__file__).with_name("support_auto.json")
# route -> its components, by checker name; the first is the route's checker when there are no weights
ROUTES: dict[str, tuple[str, ...]] = {
    "same": ("lexical", "align"),
    "english": ("lexical", "align"),
    "cross": ("bridge", "align"),
}


class CalibratedCombination:
    """A logistic regression over the logits of several checkers' scores (weights fitted elsewhere)."""

    def __init__(
        self, name: str, components: Sequence[SupportChecker], coef: Sequence[float], intercept: float
    ):
        if len(components) != len(coef):
            raise ValueError(f"{name}: {len(components)} components but {len(coef)} weights")
        self.name = name
        self.components = list(components)
        self.coef = [float(c) for c in coef]
        self.intercept = float(intercept)

    def score(self, claim: str, passages: Sequence[str]) -> float:
        z = self.intercept + sum(
            w * logit(float(c.score(claim, passages)))
            for w, c in zip(self.coef, self.components, strict=True)
        )
        return sigmoid(z)


def load_weights(path: Path | None = None) -> dict[str, Any] | None:
    """The fitted routes, or None when there is no file; a damaged file is an error, never ignored."""
    path = path or WEIGHTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise CheckerUnavailable(
            f"{path.name} is unreadable ({exc}): fit it again with `python -m evals fit-auto`"
        ) from None
    for route, components in ROUTES.items():
        entry = data.get(route) or {}
        if entry.get("components") != list(components) or len(entry.get("coef", [])) != len(components):
            raise CheckerUnavailable(f"{path.name} does not fit the {route} route {components}: fit it again")
    return data


class LanguageRoutedChecker:
    """One checker for claims in the passages' language, another for claims across languages."""

    name = "auto"

    def __init__(
        self,
        same_language: SupportChecker,
        cross_language: SupportChecker,
        english: SupportChecker | None = None,
    ):
        self.same_language = same_language
        self.cross_language = cross_language
        self.english = english or same_language

    @classmethod
    def from_parts(cls, parts: CheckerParts) -> LanguageRoutedChecker:
        weights = load_weights()
        if weights is None:
            return cls(parts.checker(ROUTES["same"][0]), parts.checker(ROUTES["cross"][0]))
        routes = {
            route: CalibratedCombination(
                f"auto:{route}",
                [parts.checker(name) for name in components],
                weights[route]["coef"],
                weights[route]["intercept"],
            )
            for route, components in ROUTES.items()
        }
        return cls(routes["same"], routes["cross"], routes["english"])

    def score(self, claim: str, passages: Sequence[str]) -> float:
        claim, passages = check_inputs(claim, passages)
        if passages and fact_mismatches(claim, passages):
            return 0.0  # a figure, duration or name the passages do not state: nothing else can save it
        # Numbers in words as digits on both sides: "二十人以下…三个OKR目标" against "under 20 people … three
        # objectives" scored 0.08 across languages with nothing in common but what the words say.
        claim, passages = spelled_as_digits(claim), [spelled_as_digits(p) for p in passages]
        language = detect_language(claim)
        if passages and language != detect_language("\n".join(passages)):
            return self.cross_language.score(claim, passages)
        return (self.english if language == "en" else self.same_language).score(claim, passages)
