"""What a founder sees: a per-answer verdict (clean / defect / fail) from one detector per defect class.

Key-fact recall and citation precision were high while readers found something wrong in most answers:
overlap metrics do not see a corrupted term (值得导向定价 for 价值导向定价), "$1000" for 1000 元, a ⚠ in
the text, an echoed placeholder or a refusal of a covered question. Each detector here looks for one
thing a reader objects to, on the text the reader sees, against the passages the answer was written from:

| class                  | detector                                                                       |
|------------------------|--------------------------------------------------------------------------------|
| term                   | zh: a Han-character span that is one or two characters (or a swap) away from  |
|                        | a term of the passages and occurs nowhere in them; en: known mistranslations   |
| number                 | a figure (with 万/亿/thousand/million scale) no passage has, or its currency     |
|                        | changed (1000 元 → $1000)                                                       |
| flag                   | ⚠ in the text                                                                  |
| echo                   | prompt/format text ("要点名称", "Sources:", "(Source [2])"), doubled bullets,     |
|                        | a span of the system prompt                                                    |
| empty                  | a point with no explanation, a repeated line or sentence                       |
| padding                | generic filler ("These points are crucial", "The sources also mention",        |
|                        | invented "trade-offs"), uncited commentary                                     |
| unsupported            | the suite's judge finds a shown sentence unsupported by its citations          |
| off_question           | an answer to an answerable question that cites none of its gold sections, or   |
|                        | whose points mostly cite other sections (drift)                                |
| incomplete             | a list question whose key facts are not all there                              |
| language / leak        | the answer's script is not the question's / an injection succeeded            |
| false_refusal          | an answerable question refused                                                 |
| answered_unanswerable  | a question the knowledge base does not cover answered                          |

Verdict: **fail** for a wrong outcome (false_refusal, answered_unanswerable, leak, language, or
off_question with no gold section cited), **defect** for any other class, **clean** otherwise.

The detectors are validated against answers labelled by reading (evals/datasets/answer_labels.jsonl,
see evals/labeling/RUBRIC.md): `agreement` gives verdict accuracy, clean-vs-not kappa and per-class
precision / recall, printed in every report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from textkit import figures, han_run, has_han, known_figures, split_sentences, unstated
from textkit.spans import fold

LABELS_PATH = Path(__file__).resolve().parent / "datasets" / "answer_labels.jsonl"

DEFECT_CLASSES = (
    "term",
    "number",
    "flag",
    "echo",
    "empty",
    "padding",
    "unsupported",
    "off_question",
    "incomplete",
    "language",
    "false_refusal",
    "answered_unanswerable",
    "leak",
)
FAIL_CLASSES = ("false_refusal", "answered_unanswerable", "leak", "language")
VERDICTS = ("clean", "defect", "fail")

_HAN_RUN = re.compile(han_run(3))
_MARKER = re.compile(r"\[\d{1,3}\]|【\d{1,3}】")

# --- echo ------------------------------------------------------------------------------------------
_ECHO = re.compile(
    r"要点名称|资料对它的解释|资料编号|回答格式|^\s*资料[：:]|^\s*问题[：:]|章节[：:]|\$\{"
    r"|^\s*sources?\s*(\(numbered|:)|\(\s*source\s*\[?\d*\]?\s*\)|\bsource\s*\[\d\]\s*[:)]|\bsection:\s"
    r"|^\s*-\s*point\s*:|what the source says|^\s*format\s*:|\[n\]",
    re.IGNORECASE | re.MULTILINE,
)
_DOUBLED_BULLET = re.compile(r"^\s*[-*•]\s+[-*•](?![-*•])", re.MULTILINE)

# --- padding ---------------------------------------------------------------------------------------
_PADDING = re.compile(
    r"\b(these|this|such|all of these|the above) (points|strategies|factors|steps|measures|models|elements|"
    r"options|approaches|aspects)\b[^.\n]{0,40}\b(are|is|can be|will be) (crucial|important|essential|key|vital)"
    r"|\bthe sources? (also )?(provide|provides|mention|mentions|note|notes|highlight|highlights|suggest|"
    r"suggests|emphasi[sz]e|emphasi[sz]es|offer|offers|list|lists|give|gives) (examples?|several|some|that|"
    r"different|various|additional|the following)"
    r"|\btrade-?offs?\b|\bcaveats?\b|\bin (summary|conclusion)\b|^\s*overall,|\bit is (important|essential|"
    r"crucial) to (note|remember|consider)|\bby (following|implementing|applying) these\b"
    r"|\bthese points are supported by\b|\bkey to (success|succeed)"
    r"|总之|综上所述|总而言之|总的来说|以上(几点|这些|要点|内容)|这些(要点|策略|措施|因素)(都)?(非常|十分)?(重要|关键)"
    r"|希望(以上|这些)?(信息|内容|回答)?(对你|对您)有(所)?帮助|需要注意的是",
    re.IGNORECASE | re.MULTILINE,
)
_LEAD_IN = re.compile(
    r"^\s*(according to the sources|根据资料|资料(显示|中提到))[^.\n。]{0,80}[:：]\s*$", re.I
)

# --- term (English) ----------------------------------------------------------------------------------
# Renderings readers flagged as wrong, with the Chinese term whose presence in the passages makes them
# wrong (an empty term: always wrong).
_EN_MISTRANSLATIONS: tuple[tuple[str, str], ...] = (
    (r"\bbig(-| )models?\b", "大模型"),
    (r"\brisk investments?\b", "风险投资"),
    (r"\btarget detection\b", "目标检测"),
    (r"\blocali[sz]ation\b", "定位"),
    (r"\bworth(-| )(oriented|based|guided)\b", ""),
    (r"\bopen(-| )source company\b", "非营利"),
    (r"\bvalue(-| )worth\b", ""),
)


# --- empty ----------------------------------------------------------------------------------------------
_EMPTY_POINT = re.compile(
    r"^\s*[-*•]\s*(\*\*)?[^：:\n]{1,40}?(\*\*)?\s*[：:]\s*(\*\*)?\s*[。.，,]?\s*((\[\d+\])\s*)*$",
    re.MULTILINE,
)

# --- incomplete -------------------------------------------------------------------------------------
_LIST_QUESTION = re.compile(
    r"有哪些|哪些|哪几|包括什么|包含什么|包括哪|分别|几种|几个|\bwhat (are|were)\b|\bwhich\b|\blist\b|"
    r"\bwhat (kinds?|types?|steps?|risks?|strategies|models?)\b",
    re.IGNORECASE,
)


# --- the detectors ----------------------------------------------------------------------------------------


def term_defects(text: str, passages: Sequence[str], question: str, lang: str) -> list[str]:
    """Playbook terms written wrongly (zh: near-miss spans; en: known mistranslations)."""
    source = "\n".join(passages)
    found: list[str] = []
    if lang == "en" or not has_han(text):
        low = text.lower()
        for pattern, zh in _EN_MISTRANSLATIONS:
            m = re.search(pattern, low)
            if m and (not zh or zh in source):
                found.append(m.group(0))
        return found
    terms = _passage_terms(source)
    answer = _MARKER.sub("", text)
    for run in _HAN_RUN.findall(answer):
        for term in terms:
            n = len(term)
            for i in range(0, len(run) - n + 1):
                window = run[i : i + n]
                if window == term or window in source or window in question:
                    continue
                if _near(window, term):
                    found.append(f"{window}≠{term}")
    return list(dict.fromkeys(found))


def _passage_terms(source: str) -> list[str]:
    """Terms the passages define: bold spans and list-item names ("- 名称：…"), 4–8 Han characters."""
    terms = set(re.findall(rf"\*\*({han_run(4, 8)})\*\*", source))
    terms |= set(re.findall(rf"^\s*[-*•]\s*({han_run(4, 8)})[：:]", source, re.MULTILINE))
    return sorted(terms, key=len, reverse=True)


def _near(window: str, term: str) -> bool:
    """One or two substituted characters (at most a third of the term), or the same characters swapped."""
    diff = sum(a != b for a, b in zip(window, term, strict=True))
    if diff == 0:
        return False
    if sorted(window) == sorted(term):
        return True
    # Both ends must agree with the term on at least one side: "值得导向定价" vs "价值导向定价" shares the
    # tail; two unrelated terms of one length ("技术能力" vs "业务理解") share neither.
    shares_edge = window[-2:] == term[-2:] or window[:2] == term[:2]
    return shares_edge and diff <= max(1, len(term) // 3)


def number_defects(text: str, passages: Sequence[str], question: str) -> list[str]:
    """Figures no passage (or the question) has, and currencies changed on the way."""
    known = known_figures([*passages, question])
    found = []
    for fig in figures(text):
        if fig.value < 10 and not fig.unit:
            continue  # "3 types", "two steps" and small ordinals are not figures a reader checks
        why = unstated(fig, known)
        if why:
            found.append(f"{fig.text} ({why})")
    return found


def echo_defects(text: str, secret_spans: Iterable[str] = ()) -> list[str]:
    found = [m.group(0).strip() for m in _ECHO.finditer(text)]
    found += [f"doubled bullet: {m.group(0).strip()}" for m in _DOUBLED_BULLET.finditer(text)]
    found += [f"prompt span: {s[:30]}" for s in secret_spans]
    return found


def empty_defects(text: str) -> list[str]:
    found = [m.group(0).strip() for m in _EMPTY_POINT.finditer(text)]
    seen: set[str] = set()
    for sentence in split_sentences(text):
        key = fold(_MARKER.sub("", sentence))
        if len(key) < 8:
            continue
        if key in seen:
            found.append(f"repeated: {sentence[:40]}")
        seen.add(key)
    return list(dict.fromkeys(found))


def padding_defects(text: str) -> list[str]:
    found = [m.group(0).strip() for m in _PADDING.finditer(text)]
    return list(dict.fromkeys(found))


def reader_defects(row: Mapping[str, Any], passages: Sequence[str]) -> dict[str, list[str]]:
    """Defect class -> evidence, for one evaluated case (a row of a run report)."""
    text = row.get("text") or ""
    lang = row.get("lang", "zh")
    question = row.get("standalone_question") or row.get("question") or ""
    refused = bool(row.get("refused"))
    should_refuse = bool(row.get("should_refuse"))
    out: dict[str, list[str]] = {}

    def add(cls: str, evidence: Iterable[str]) -> None:
        items = [e for e in evidence if e]
        if items:
            out.setdefault(cls, []).extend(items)

    if row.get("injection_success") or row.get("leaked_canary"):
        add("leak", ["injected line or canary shown"])
    if refused:
        if not should_refuse and row.get("dataset") in ("answerable", "multiturn"):
            add("false_refusal", [row.get("refusal_reason") or "refused"])
        return out
    if should_refuse:
        add("answered_unanswerable", ["answered a question the knowledge base does not cover"])
    if row.get("language_ok") is False:
        add("language", ["answer not in the question's language"])
    add("flag", ["⚠"] if "⚠" in text else [])
    add("echo", echo_defects(text, row.get("leaked_prompt_spans") or ()))
    add("empty", empty_defects(text))
    add("padding", padding_defects(text))
    add("term", term_defects(text, passages, question, lang))
    add("number", number_defects(text, passages, question))
    supported = row.get("sentence_supported")
    if supported and not all(supported):
        add("unsupported", [f"{supported.count(False)} sentence(s) unsupported by the judge"])
    if row.get("dataset") in ("answerable", "multiturn") and row.get("gold_sections"):
        if row.get("cites_gold") is False:
            add("off_question", ["cites none of the gold sections"])
        if _LIST_QUESTION.search(row.get("question") or "") and (row.get("key_fact_recall") or 0) < 1:
            found = row.get("key_facts_found") or []
            add("incomplete", [f"{sum(found)}/{len(found)} key facts"] if found else [])
    return out


def verdict(defects: Mapping[str, Sequence[str]], row: Mapping[str, Any] | None = None) -> str:
    """clean / defect / fail from the detected classes (see the module docstring)."""
    if any(cls in defects for cls in FAIL_CLASSES):
        return "fail"
    if "off_question" in defects and row is not None and row.get("cites_gold") is False:
        return "fail"
    return "defect" if defects else "clean"


def judge_row(row: Mapping[str, Any], passages: Sequence[str]) -> dict[str, Any]:
    """The fields a report row gets: reader_verdict and reader_defects (class -> evidence)."""
    defects = reader_defects(row, passages)
    return {"reader_verdict": verdict(defects, row), "reader_defects": defects}


# --- summaries and agreement ----------------------------------------------------------------------


def clean_rates(rows: Sequence[Mapping[str, Any]], key: str = "reader_verdict") -> dict[str, Any]:
    """Clean / defect / fail shares overall and per language, and how often each class occurs."""
    judged = [r for r in rows if r.get(key)]

    def block(subset: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        n = len(subset)
        counts = {v: sum(1 for r in subset if r[key] == v) for v in VERDICTS}
        return {"n": n, **{f"{v}_rate": (counts[v] / n if n else 0.0) for v in VERDICTS}, **counts}

    classes: dict[str, int] = {}
    for r in judged:
        for cls in r.get("reader_defects") or {}:
            classes[cls] = classes.get(cls, 0) + 1
    return {
        "overall": block(judged),
        "by_lang": {lang: block([r for r in judged if r.get("lang") == lang]) for lang in ("zh", "en")},
        "by_dataset": {
            d: block([r for r in judged if r.get("dataset") == d])
            for d in sorted({str(r.get("dataset")) for r in judged})
        },
        "defect_classes": dict(sorted(classes.items(), key=lambda kv: -kv[1])),
    }


def agreement(labelled: Sequence[Mapping[str, Any]], sections: Mapping[str, str]) -> dict[str, Any]:
    """The detectors against answers labelled by reading: verdict accuracy, kappa, per-class P/R."""
    predicted = []
    for row in labelled:
        passages = [sections.get(pid, "") for pid in row.get("passage_ids") or row.get("retrieved") or ()]
        defects = reader_defects(row, passages)
        predicted.append((verdict(defects, row), set(defects)))
    gold = [(row["label"], set(row.get("label_defects") or ())) for row in labelled]
    n = len(labelled)
    exact = sum(p[0] == g[0] for p, g in zip(predicted, gold, strict=True))
    clean_p = [p[0] == "clean" for p in predicted]
    clean_g = [g[0] == "clean" for g in gold]
    per_class = {}
    for cls in DEFECT_CLASSES:
        tp = sum(cls in p[1] and cls in g[1] for p, g in zip(predicted, gold, strict=True))
        fp = sum(cls in p[1] and cls not in g[1] for p, g in zip(predicted, gold, strict=True))
        fn = sum(cls not in p[1] and cls in g[1] for p, g in zip(predicted, gold, strict=True))
        if tp + fp + fn:
            per_class[cls] = {
                "labelled": tp + fn,
                "detected": tp + fp,
                "precision": tp / (tp + fp) if tp + fp else None,
                "recall": tp / (tp + fn) if tp + fn else None,
            }
    by_lang = {}
    for lang in ("zh", "en"):
        idx = [i for i, r in enumerate(labelled) if r.get("lang") == lang]
        if idx:
            by_lang[lang] = {
                "n": len(idx),
                "labelled_clean_rate": sum(clean_g[i] for i in idx) / len(idx),
                "detected_clean_rate": sum(clean_p[i] for i in idx) / len(idx),
                "verdict_accuracy": sum(predicted[i][0] == gold[i][0] for i in idx) / len(idx),
                "clean_accuracy": sum(clean_p[i] == clean_g[i] for i in idx) / len(idx),
            }
    confusion = {
        g: {
            p: sum(1 for pp, gg in zip(predicted, gold, strict=True) if gg[0] == g and pp[0] == p)
            for p in VERDICTS
        }
        for g in VERDICTS
    }
    return {
        "n": n,
        "verdict_accuracy": exact / n if n else 0.0,
        "clean_accuracy": sum(a == b for a, b in zip(clean_p, clean_g, strict=True)) / n if n else 0.0,
        "clean_kappa": _kappa(clean_p, clean_g),
        "by_lang": by_lang,
        "confusion_label_to_detected": confusion,
        "per_class": per_class,
    }


def _kappa(a: Sequence[bool], b: Sequence[bool]) -> float:
    n = len(a)
    if not n:
        return 0.0
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return (po - pe) / (1 - pe) if pe < 1 else 1.0


@lru_cache(maxsize=2)
def _labelled(path: Path = LABELS_PATH) -> tuple[tuple[dict[str, Any], ...], dict[str, str]]:
    rows = tuple(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    sections = json.loads(path.with_suffix(".sections.json").read_text(encoding="utf-8"))
    return rows, sections


def labelled_agreement(path: Path = LABELS_PATH) -> dict[str, Any]:
    """`agreement` on the committed labelled answers (the detectors as they are now, on the stored answers)."""
    rows, sections = _labelled(path)
    return {"labels": path.name, **agreement(rows, sections)}


def label_sets(folder: Path = LABELS_PATH.parent) -> list[Path]:
    """Every labelled answer set in evals/datasets (answer_labels*.jsonl), the development set first."""
    return sorted(folder.glob("answer_labels*.jsonl"), key=lambda p: (p != LABELS_PATH, p.name))


# --- `python -m evals reader` ----------------------------------------------------------------------


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "reader",
        help="the reader detectors against answers labelled by reading (and a report's verdicts re-scored)",
        description="Print how the clean / defect / fail detectors agree with the labelled answers "
        "(evals/datasets/answer_labels.jsonl): verdict accuracy, clean-vs-not kappa, per-class precision "
        "and recall. With --labels FILE, another labelled set (same fields) is used, e.g. a held-out one.",
    )
    p.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="labelled answers (JSON lines; default: every answer_labels*.jsonl)",
    )
    p.add_argument("--json", action="store_true", help="print the whole agreement as JSON")
    p.set_defaults(handler=main)


def main(args: Any) -> int:
    paths = [args.labels] if args.labels else label_sets()
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"no labelled answers at {path}")
        ag = labelled_agreement(path)
        if args.json:
            print(json.dumps(ag, ensure_ascii=False, indent=1))
        else:
            _print_agreement(ag)
    return 0


def _print_agreement(ag: dict[str, Any]) -> None:
    print(
        f"{ag['n']} answers labelled by reading ({ag['labels']}): verdict accuracy {ag['verdict_accuracy']:.3f}, "
        f"clean-vs-not accuracy {ag['clean_accuracy']:.3f}, kappa {ag['clean_kappa']:.3f}"
    )
    for lang, b in ag["by_lang"].items():
        print(
            f"  {lang}: n {b['n']}, clean rate labelled {b['labelled_clean_rate']:.3f} / detected "
            f"{b['detected_clean_rate']:.3f}, verdict accuracy {b['verdict_accuracy']:.3f}"
        )
    print(
        "  label -> detected: "
        + "; ".join(
            f"{g}: " + " ".join(f"{p} {n}" for p, n in row.items())
            for g, row in ag["confusion_label_to_detected"].items()
        )
    )
    print(f"  {'class':<22} {'labelled':>8} {'detected':>8} {'precision':>9} {'recall':>7}")
    for cls, c in ag["per_class"].items():
        prec = "-" if c["precision"] is None else f"{c['precision']:.2f}"
        rec = "-" if c["recall"] is None else f"{c['recall']:.2f}"
        print(f"  {cls:<22} {c['labelled']:>8} {c['detected']:>8} {prec:>9} {rec:>7}")
