"""An incubator's own documents, measured beside the playbook (`--dataset added_docs`): retrieval, and in
a full run the answers too.

The documents (evals/datasets/added_docs/: Markdown, text, HTML, PDF, DOCX, English and Chinese) are added
to a throw-away copy of the knowledge base (evals/injection_index.py), and every question of the run, the
playbook's answerable set included, is retrieved from that one index: an added document must be found, and
the playbook must not be crowded out by it.

A retrieved passage is right at two levels:

* heading level (`hit@k`, `rr`): it comes from the gold document and its heading path holds the gold
  heading (compared without case or spacing differences). This is what a citation shows a founder.
* document level (`doc_hit@k`, `doc_rr`): it comes from the gold document. The gap between the two levels
  is a neighbouring section of the right document ranked first (a PDF's headings are recovered from its
  fonts, indexing/pdf_headings.py; before that every PDF chunk was filed under the file name).
"""

from __future__ import annotations

import math
import re
import shutil
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from advisor import Settings, build_advisor
from evals.datasets import ADDED_DOCS_DIR, DATASET_DIR, Case
from evals.injection_index import build_augmented_target
from evals.targets import LocalTarget

# The chunker joins a heading path with " › " (indexing's SECTION_SEPARATOR, not public API).
_PATH_PARTS = re.compile(r"\s*›\s*")
# The added documents' renderings (Chinese lines in English, English lines in Chinese), made once by the
# offline model (render_added_documents).
ADDED_DOCS_RENDERINGS = {lang: DATASET_DIR / f"added_docs_renderings.{lang}.json" for lang in ("en", "zh")}
KS = (1, 3, 5)
ADDED_KEYS = ("hit@1", "hit@3", "hit@5", "rr", "ndcg@5", "doc_hit@1", "doc_hit@3", "doc_rr")
# With answers (a full run): answered = not refused; the citations' gold document and heading.
ANSWER_KEYS = ("answered", "cites_gold_document", "cites_gold_heading", "cites_other_source")
WORST_SHOWN = 10

Located = tuple[str, str]  # (source file, heading path) of one retrieved passage


# --- the documents and their index --------------------------------------------------------------


def added_document_paths(folder: Path = ADDED_DOCS_DIR) -> list[Path]:
    """Every file of the added-documents set, in name order."""
    if not folder.is_dir():
        raise FileNotFoundError(f"the added-documents folder is missing: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def build_added_docs_target(
    settings: Settings,
    workdir: Path,
    *,
    base: LocalTarget,
    folder: Path = ADDED_DOCS_DIR,
    renderings: Mapping[str, Path] | None = ADDED_DOCS_RENDERINGS,
) -> LocalTarget:
    """An advisor over the knowledge base plus every added document (copied byte for byte: PDF and DOCX
    go through the indexer's own converters, as an upload would), with the documents' renderings as
    `python -m advisor prepare` leaves them (`renderings`: language -> file, those that exist): the views
    of the index (settings.bilingual_views) search them."""

    def copy_documents(knowledge: Path) -> None:
        for path in added_document_paths(folder):
            if (knowledge / path.name).exists():
                raise FileExistsError(f"an added document has the name of a knowledge file: {path.name}")
            shutil.copyfile(path, knowledge / path.name)

    made = {language: path for language, path in (renderings or {}).items() if path.is_file()}
    return build_augmented_target(settings, copy_documents, workdir, base=base, renderings=made)


def render_added_documents(
    settings: Settings,
    workdir: Path,
    out: Mapping[str, Path] = ADDED_DOCS_RENDERINGS,
    *,
    minutes: float | None = None,
) -> dict[str, int]:
    """Render the added documents' lines and headings in the other language with the configured model,
    once, into `out` (language -> file; committed with the set, so that a retrieval-only run needs no
    model); the number of lines written per language. A language whose file exists keeps its lines and
    renders only what it lacks. `minutes`: stop each language after that long and keep what was made
    (headings first: short, and they name the topic); a later call goes on from there.

    The same renderings `python -m advisor prepare` makes after an upload (~2-4 s a line on two cores):
    the added documents are indexed in a throw-away data folder and its advisor's renderings are made for
    their chunks (the playbook's are shipped with the code).
    """
    settings = settings.model_copy(
        update={"knowledge_cache": False, "translate_queries": False, "bilingual_views": True}
    )
    base = LocalTarget(build_advisor(settings))
    kept = {language: path for language, path in out.items() if path.is_file()}
    advisor = build_added_docs_target(settings, workdir, base=base, renderings=kept).advisor
    made = {"en": advisor.renderings, "zh": advisor.chinese_renderings}
    names = {p.name for p in added_document_paths()}
    added = [c for c in advisor.index.chunks if c.source.rsplit("/", 1)[-1] in names]
    texts = [part for c in added for part in _PATH_PARTS.split(c.section)] + [c.text for c in added]
    written = {}
    for language, path in out.items():
        renderings = made[language]
        if renderings is None:
            raise ValueError("settings.english_renderings is off: there is no model rendering to make")
        stop = threading.Event()
        timer = threading.Timer(minutes * 60, stop.set) if minutes else None
        if timer is not None:
            timer.start()
        try:
            say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
            renderings.build(advisor.generator, texts, say=say, stop=stop)
        finally:
            if timer is not None:
                timer.cancel()
        written[language] = renderings.export(path, texts)
    return written


# --- scoring one question -----------------------------------------------------------------------


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def heading_matches(section: str, heading: str) -> bool:
    """True when `heading` is one of the headings of the path `section` ("A › B" holds "A" and "B")."""
    want = _normalised(heading)
    return any(_normalised(part) == want for part in _PATH_PARTS.split(section))


def _first_rank(matches: Sequence[bool]) -> int | None:
    return next((rank for rank, ok in enumerate(matches, 1) if ok), None)


def added_doc_scores(located: Sequence[Located], case: Case, ks: Sequence[int] = KS) -> dict[str, Any]:
    """Heading- and document-level hit@k, reciprocal rank and nDCG of one ranked list (one gold item)."""
    if not case.gold_document:
        raise ValueError(f"case {case.id} has no gold document")
    in_doc = [source.rsplit("/", 1)[-1] == case.gold_document for source, _section in located]
    at_heading = [
        ok and heading_matches(section, case.gold_heading)
        for ok, (_source, section) in zip(in_doc, located, strict=True)
    ]
    rank, doc_rank = _first_rank(at_heading), _first_rank(in_doc)
    out: dict[str, Any] = {
        "rr": 1.0 / rank if rank else 0.0,
        "doc_rr": 1.0 / doc_rank if doc_rank else 0.0,
        "gold_rank": rank,
        "doc_rank": doc_rank,
        # One relevant item: the ideal DCG is 1, so nDCG@k is the discounted gain of its rank.
        f"ndcg@{max(ks)}": 1.0 / math.log2(rank + 1) if rank and rank <= max(ks) else 0.0,
    }
    for k in ks:
        out[f"hit@{k}"] = 1.0 if rank and rank <= k else 0.0
        out[f"doc_hit@{k}"] = 1.0 if doc_rank and doc_rank <= k else 0.0
    return out


def score_row(row: dict[str, Any], case: Case, located: Sequence[Located]) -> None:
    """Fill a report row with what was retrieved for an added-document question and its scores."""
    row.update(
        gold_document=case.gold_document,
        gold_heading=case.gold_heading,
        document_lang=case.document_lang,
        crossing="cross_language" if case.crosses_language else "same_language",
        document_format=Path(case.gold_document).suffix.lstrip(".").lower(),
        retrieved=[f"{source} › {section}" for source, section in located],
        **added_doc_scores(located, case),
    )


def score_answer(row: dict[str, Any], case: Case, cited: Sequence[Located], refused: bool) -> None:
    """Fill a report row with how an added-document question was answered: given or refused, and whether
    a citation points at the gold document (and at its gold heading) or only elsewhere (`cited`: the
    answer's citations as (source file, heading path))."""
    in_doc = [section for source, section in cited if source.rsplit("/", 1)[-1] == case.gold_document]
    row.update(
        answered=0.0 if refused else 1.0,
        cites_gold_document=1.0 if in_doc and not refused else 0.0,
        cites_gold_heading=1.0 if any(heading_matches(s, case.gold_heading) for s in in_doc) else 0.0,
        # An answer may combine sources: the added document's and the playbook's, each cited as its own.
        cites_other_source=1.0 if len(in_doc) < len(cited) else 0.0,
    )


# --- the summary --------------------------------------------------------------------------------


def _means(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {"n": len(rows)}
    for key in ADDED_KEYS:
        values = [float(r[key]) for r in rows if r.get(key) is not None]
        out[key] = sum(values) / len(values) if values else float("nan")
    return out


def _grouped(rows: Sequence[dict[str, Any]], key) -> dict[str, dict[str, float]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return {name: _means(groups[name]) for name in sorted(groups)}


def worst_misses(rows: Sequence[dict[str, Any]], n: int = WORST_SHOWN) -> list[dict[str, Any]]:
    """The questions whose gold heading ranked lowest (not found first), each with what ranked first."""
    missed = [r for r in rows if r["rr"] < 1.0]
    missed.sort(key=lambda r: (r["rr"], r["doc_rr"], r["id"]))
    return [
        {
            "id": r["id"],
            "question": r["question"],
            "gold": f"{r['gold_document']} › {r['gold_heading']}",
            "gold_rank": r["gold_rank"],
            "doc_rank": r["doc_rank"],
            "first": r["retrieved"][0] if r["retrieved"] else "",
        }
        for r in missed[:n]
    ]


def summarise_added(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The added-documents block of a run's summary: overall, same vs cross language, per question
    language, both together, per document format, and the worst misses; with answers (a full run), how
    many were answered and cited the gold document, and why the others were refused."""
    summary = {
        "overall": _means(rows),
        "by_crossing": _grouped(rows, lambda r: r["crossing"]),
        "by_lang": _grouped(rows, lambda r: r["lang"]),
        "by_crossing_lang": _grouped(rows, lambda r: f"{r['crossing']} {r['document_lang']}->{r['lang']}"),
        "by_format": _grouped(rows, lambda r: r["document_format"]),
        "worst": worst_misses(rows),
    }
    answered = [r for r in rows if "answered" in r]
    if answered:
        summary["answers"] = {
            "overall": _answer_means(answered),
            "by_crossing": {
                name: _answer_means([r for r in answered if r["crossing"] == name])
                for name in sorted({r["crossing"] for r in answered})
            },
            "refusal_reasons": {
                reason: sum(1 for r in answered if r.get("refusal_reason") == reason)
                for reason in sorted({r.get("refusal_reason") or "" for r in answered if not r["answered"]})
            },
            "refused": [
                {"id": r["id"], "question": r["question"], "reason": r.get("refusal_reason") or ""}
                for r in answered
                if not r["answered"]
            ],
        }
    return summary


def _answer_means(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {"n": len(rows)}
    for key in ANSWER_KEYS:
        out[key] = sum(float(r[key]) for r in rows) / len(rows) if rows else float("nan")
    return out
