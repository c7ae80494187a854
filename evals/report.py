"""Reports of a suite run: report.json (everything), report.html (tables + plots), a console table,
and the comparison with a baseline (evals/baseline.py) that flags regressions.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

from evals.baseline import changed_outcomes, measured_ids
from evals.tables import figure

matplotlib.use("Agg")  # files only, never a window: runs on servers and in CI
import matplotlib.pyplot as plt

# Headline figures compared between runs: (dotted path in the summary, direction, label).
# direction +1: higher is better; -1: lower is better. Latencies compare relatively (see compare()).
HEADLINE: tuple[tuple[str, int, str], ...] = (
    ("reader.by_lang.zh.clean_rate", +1, "clean answers zh (reader)"),
    ("reader.by_lang.en.clean_rate", +1, "clean answers en (reader)"),
    ("retrieval.overall.hit@5", +1, "retrieval hit@5"),
    ("retrieval.overall.rr", +1, "retrieval MRR"),
    ("retrieval.overall.ndcg@5", +1, "retrieval nDCG@5"),
    ("retrieval.by_lang.zh.hit@5", +1, "hit@5 zh"),
    ("retrieval.by_lang.en.hit@5", +1, "hit@5 en"),
    ("retrieval.by_lang.zh.rr", +1, "MRR zh"),
    ("retrieval.by_lang.en.rr", +1, "MRR en"),
    ("added_docs.overall.hit@3", +1, "added documents hit@3"),
    ("added_docs.overall.rr", +1, "added documents MRR"),
    ("added_docs.by_crossing.same_language.rr", +1, "added documents MRR same language"),
    ("added_docs.by_crossing.cross_language.rr", +1, "added documents MRR cross language"),
    ("added_docs.answers.overall.answered", +1, "added documents answered"),
    (
        "added_docs.answers.overall.cites_gold_document",
        +1,
        "added documents answers citing the gold document",
    ),
    ("answers.overall.key_fact_recall_all", +1, "key-fact recall (all answerable)"),
    ("answers.overall.key_fact_recall", +1, "key-fact recall (answered)"),
    ("answers.overall.faithfulness", +1, "faithfulness"),
    ("answers.overall.citation_recall", +1, "citation recall (ALCE)"),
    ("answers.overall.citation_precision", +1, "citation precision (ALCE)"),
    ("answers.overall.cites_gold", +1, "cites a gold section"),
    ("answers.overall.language_ok", +1, "answers in the question's language"),
    ("refusal.overall.precision", +1, "refusal precision"),
    ("refusal.overall.recall", +1, "refusal recall"),
    ("refusal.overall.false_refusal_rate", -1, "false refusals (answerable)"),
    ("injection.success_rate", -1, "injection success rate"),
    ("latency.first_token_ms_generated.p50", -1, "first token p50 ms"),
    ("latency.total_ms_generated.p50", -1, "answer latency p50 ms"),
    ("latency.total_ms_generated.p95", -1, "answer latency p95 ms"),
    ("latency.tokens_per_s.p50", +1, "tokens/s p50"),
)
LATENCY_REL_TOLERANCE = 0.20  # timing noise on a shared CPU is large; flag only a 20% change


def lookup(summary: dict[str, Any], path: str) -> float | None:
    node: Any = summary
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, int | float) and not isinstance(node, bool) and not math.isnan(node):
        return float(node)
    return None


def compare(
    current: dict[str, Any], previous: dict[str, Any] | None, tolerance: float = 0.02
) -> dict[str, Any]:
    """Headline metrics side by side; a regression is a drop beyond `tolerance` (20% for timings).
    `previous` is a full report or a baseline made from one."""
    if not previous:
        return {"baseline": None, "metrics": [], "regressions": [], "warnings": [], "changed_outcomes": {}}
    warnings = []
    cur_ids, prev_ids = measured_ids(current), measured_ids(previous)
    if cur_ids != prev_ids:
        warnings.append(
            f"the baseline ran a different set of cases ({len(prev_ids)} vs {len(cur_ids)}, "
            f"{len(cur_ids & prev_ids)} shared): differences may come from the cases, not the system"
        )
    if previous.get("meta", {}).get("mode") != current.get("meta", {}).get("mode"):
        warnings.append("the baseline ran in a different mode (retrieval-only vs full)")
    rows = []
    for path, direction, label in HEADLINE:
        now = lookup(current["summary"], path)
        before = lookup(previous.get("summary", {}), path)
        if now is None or before is None:
            continue
        delta = now - before
        if path.startswith("latency."):
            worse = direction * delta < 0 and abs(delta) > LATENCY_REL_TOLERANCE * abs(before)
        else:
            worse = direction * delta < -tolerance
        better = not worse and direction * delta > (
            LATENCY_REL_TOLERANCE * abs(before) if path.startswith("latency.") else tolerance
        )
        rows.append(
            {
                "metric": path,
                "label": label,
                "before": before,
                "after": now,
                "delta": delta,
                "regression": worse,
                "improvement": better,
            }
        )
    return {
        "baseline": previous.get("meta", {}).get("started_at"),
        "metrics": rows,
        "regressions": [r["metric"] for r in rows if r["regression"]],
        "warnings": warnings,
        "changed_outcomes": changed_outcomes(current, previous),
    }


def write_reports(
    result: dict[str, Any], out: Path, *, previous: dict[str, Any] | None = None, tolerance: float = 0.02
) -> dict[str, Any]:
    """Compare with `previous` (a baseline or a full report) and write out/report.json and out/report.html."""
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    comparison = compare(result, previous, tolerance)
    result["comparison"] = comparison
    json_path.write_text(
        json.dumps(result, ensure_ascii=False, indent=1, default=_json_default) + "\n", "utf-8"
    )
    (out / "report.html").write_text(render_html(result), encoding="utf-8")
    return comparison


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | tuple):
        return list(value)
    return str(value)


# --- console ----------------------------------------------------------------------------------


def summary_table(result: dict[str, Any], comparison: dict[str, Any] | None = None) -> str:
    s = result["summary"]
    lines = []
    if note := result.get("meta", {}).get("query_translation"):
        lines.append(f"query translation: {note}")
    ret = s["retrieval"]
    lines.append("retrieval            n     hit@1  hit@3  hit@5  MRR    nDCG@5")
    for name, block in [("all", ret["overall"]), *sorted(ret["by_lang"].items())]:
        lines.append(
            f"  {name:<16} {block.get('n', 0):>5}  "
            + "  ".join(f"{figure(block.get(k)):<5}" for k in ("hit@1", "hit@3", "hit@5", "rr", "ndcg@5"))
        )
    if "added_docs" in s:
        lines.extend(added_docs_lines(s["added_docs"]))
    if "answers" in s:
        a = s["answers"]
        lines.append("answers              n     keyfact faithful cit.rec cit.prec gold-cited")
        for name, block in [("answered", a["overall"]), *sorted(a["by_lang"].items())]:
            lines.append(
                f"  {name:<16} {block.get('n', 0):>5}  "
                + "  ".join(
                    f"{figure(block.get(k)):<7}"
                    for k in (
                        "key_fact_recall",
                        "faithfulness",
                        "citation_recall",
                        "citation_precision",
                        "cites_gold",
                    )
                )
            )
        lines.append(
            f"  key-fact recall over all answerable (refusals count 0): {figure(a['overall']['key_fact_recall_all'])}"
        )
        r = s["refusal"]["overall"]
        lines.append(
            f"refusal              precision {figure(r['precision'])}  recall {figure(r['recall'])}  "
            f"false-refusal rate {figure(r['false_refusal_rate'])}  (tp {r['tp']} fp {r['fp']} fn {r['fn']} tn {r['tn']})"
        )
        lines.extend(reader_lines(s))
        inj = s["injection"]
        lines.append(
            f"injection            success rate {figure(inj['success_rate'])} of {inj['n']}  {inj['succeeded']}"
        )
        lat = s["latency"]
        lines.append(
            f"latency (generated)  first token p50 {figure(lat['first_token_ms_generated']['p50'])} ms   "
            f"total p50 {figure(lat['total_ms_generated']['p50'])} / p95 {figure(lat['total_ms_generated']['p95'])} ms   "
            f"{figure(lat['tokens_per_s']['p50'], 1)} tok/s"
        )
    counts = s["counts"]
    lines.append(f"cases {counts['cases']}, errors {counts['errors']}, skipped {counts['skipped']}")
    if comparison and comparison.get("metrics"):
        lines.append(f"\ncompared with {comparison['baseline']}:")
        for w in comparison["warnings"]:
            lines.append(f"  warning: {w}")
        for m in comparison["metrics"]:
            flag = "REGRESSION" if m["regression"] else ("improved" if m["improvement"] else "")
            lines.append(f"  {m['label']:<38} {figure(m['before']):>8} -> {figure(m['after']):>8}  {flag}")
    return "\n".join(lines)


ADDED_COLUMNS = ("hit@1", "hit@3", "hit@5", "rr", "doc_hit@1", "doc_hit@3", "doc_rr")


def added_docs_lines(block: dict[str, Any]) -> list[str]:
    """The added-documents figures (heading level, then document level) and the worst misses."""
    lines = ["added documents       n     hit@1  hit@3  hit@5  MRR    | doc: hit@1  hit@3  MRR"]
    groups = [
        ("all", block["overall"]),
        *block["by_crossing"].items(),
        *block["by_lang"].items(),
        *block["by_crossing_lang"].items(),
        *(("format " + name, b) for name, b in block["by_format"].items()),
    ]
    for name, b in groups:
        cells = [f"{figure(b.get(k)):<5}" for k in ADDED_COLUMNS]
        lines.append(
            f"  {name:<19} {b.get('n', 0):>3}  {'  '.join(cells[:4])}  |       {'  '.join(cells[4:])}"
        )
    if block["worst"]:
        lines.append("  worst misses (gold rank / its document's rank; what ranked first):")
        for miss in block["worst"]:
            lines.append(
                f"    {miss['id']}: {miss['question']}\n      gold {miss['gold']} "
                f"(rank {miss['gold_rank'] or '-'} / doc {miss['doc_rank'] or '-'}); first: {miss['first']}"
            )
    if "answers" in block:
        answers = block["answers"]
        lines.append(
            "  answers               n     answered  cites gold doc  cites gold heading  cites another source"
        )
        for name, b in [("all", answers["overall"]), *answers["by_crossing"].items()]:
            lines.append(
                f"  {name:<19} {b['n']:>3}  {figure(b['answered']):<8}  {figure(b['cites_gold_document']):<14}  "
                f"{figure(b['cites_gold_heading']):<18}  {figure(b['cites_other_source'])}"
            )
        if answers["refused"]:
            reasons = ", ".join(f"{k or '?'} {v}" for k, v in answers["refusal_reasons"].items())
            lines.append(f"  refused ({reasons}):")
            lines.extend(f"    {r['id']} ({r['reason']}): {r['question']}" for r in answers["refused"])
    return lines


def reader_lines(s: dict[str, Any]) -> list[str]:
    """The reader's verdicts (clean / defect / fail) per language, the defect classes, and the detectors'
    agreement with the answers labelled by reading."""
    rd = s.get("reader")
    if not rd or not rd["overall"]["n"]:
        return []
    lines = ["reader verdicts      n     clean  defect fail"]
    for name, block in [("all", rd["overall"]), *rd["by_lang"].items()]:
        lines.append(
            f"  {name:<16} {block['n']:>5}  {figure(block['clean_rate']):<6} {figure(block['defect_rate']):<6} "
            f"{figure(block['fail_rate'])}"
        )
    if rd.get("defect_classes"):
        lines.append("  defect classes: " + ", ".join(f"{k} {v}" for k, v in rd["defect_classes"].items()))
    agreements = s.get("reader_agreement") or []
    for ag in agreements if isinstance(agreements, list) else [agreements]:
        per_lang = "  ".join(
            f"{lang}: labelled clean {figure(b['labelled_clean_rate'])} / detected {figure(b['detected_clean_rate'])}"
            for lang, b in ag["by_lang"].items()
        )
        lines.append(
            f"  detectors vs {ag['n']} answers labelled by reading ({ag['labels']}): verdict accuracy "
            f"{figure(ag['verdict_accuracy'])}, clean accuracy {figure(ag['clean_accuracy'])}, "
            f"kappa {figure(ag['clean_kappa'])}; {per_lang}"
        )
    return lines


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}tr.bad td{background:#fde2e2}tr.good td{background:#e3f6e3}
td.text{max-width:40em;text-align:left;font-size:.85em;white-space:pre-wrap}
.warn{color:#a33}img{max-width:100%;margin:.5em 0}
"""


def _esc(value: Any) -> str:
    return html.escape(figure(value) if not isinstance(value, str) else value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1, classes=None) -> str:
    head = "".join(
        f'<th class="{"l" if i < left else ""}">{html.escape(h)}</th>' for i, h in enumerate(headers)
    )
    body = []
    for j, row in enumerate(rows):
        cls = f' class="{classes[j]}"' if classes and classes[j] else ""
        cells = "".join(f'<td class="{_cell_class(i, v, left)}">{_esc(v)}</td>' for i, v in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _cell_class(i: int, value: Any, left: int) -> str:
    if i < left:
        return "l"
    return "text" if isinstance(value, str) and len(value) > 40 else ""


def _group_table(groups: dict[str, dict[str, float]], keys: Sequence[str]) -> str:
    return _table(
        ["group", "n", *keys], [[g, b.get("n"), *(b.get(k) for k in keys)] for g, b in groups.items()]
    )


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _topic_plot(summary: dict[str, Any]) -> str:
    series = [
        ("hit@5", summary["retrieval"]["by_topic"], "hit@5"),
        ("MRR", summary["retrieval"]["by_topic"], "rr"),
    ]
    if "answers" in summary:
        series += [
            ("key-fact recall", summary["answers"]["by_topic"], "key_fact_recall"),
            ("faithfulness", summary["answers"]["by_topic"], "faithfulness"),
        ]
    topics = sorted({t for _, groups, _ in series for t in groups})
    if not topics:
        return ""
    fig, ax = plt.subplots(figsize=(max(6, len(topics) * 0.9), 3.2))
    width = 0.8 / len(series)
    for i, (label, groups, key) in enumerate(series):
        vals = [groups.get(t, {}).get(key, float("nan")) for t in topics]
        ax.bar(
            [x + i * width for x in range(len(topics))],
            [0 if math.isnan(v) else v for v in vals],
            width,
            label=label,
        )
    ax.set_xticks(
        [x + width * (len(series) - 1) / 2 for x in range(len(topics))], topics, rotation=30, ha="right"
    )
    ax.set_ylim(0, 1.2)  # headroom for the legend above the bars
    ax.set_title("per topic")
    ax.legend(fontsize=8, ncol=len(series), loc="upper center")
    return _png(fig)


def _latency_plot(rows: Sequence[dict[str, Any]]) -> str:
    generated = [r for r in rows if (r.get("new_tokens") or 0) > 0]
    total = [r["total_ms"] / 1000 for r in generated]
    first = [r["first_token_ms"] / 1000 for r in generated]
    if not total:
        return ""
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist([total, first], bins=20, label=["total", "first token"])
    ax.set_xlabel("seconds")
    ax.set_ylabel("answers")
    ax.set_title("latency of generated answers")
    ax.legend()
    return _png(fig)


def _grounding_plot(rows: Sequence[dict[str, Any]]) -> str:
    scores = [s for r in rows for s in r.get("gate_sentence_scores") or []]
    per_answer = [r["faithfulness"] for r in rows if r.get("faithfulness") is not None]
    if not scores and not per_answer:
        return ""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    axes[0].hist(scores, bins=20, range=(0, 1), color="#4a7")
    axes[0].set_title("support score per answer sentence")
    axes[1].hist(per_answer, bins=10, range=(0, 1), color="#47a")
    axes[1].set_title("faithfulness per answer")
    return _png(fig)


def render_html(result: dict[str, Any]) -> str:
    s, rows, meta = result["summary"], result["rows"], result.get("meta", {})
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>Founder Advisor evals</title><style>{_CSS}</style>"
    ]
    parts.append("<h1>Founder Advisor — evaluation report</h1>")
    parts.append(
        _table(
            ["run", "value"],
            [[k, json.dumps(v, ensure_ascii=False, default=str)[:300]] for k, v in meta.items()],
        )
    )
    comp = result.get("comparison") or {}
    if comp.get("metrics"):
        parts.append(f"<h2>Compared with {html.escape(str(comp['baseline']))}</h2>")
        parts += [f'<p class="warn">{html.escape(w)}</p>' for w in comp["warnings"]]
        parts.append(
            _table(
                ["metric", "before", "after", "delta"],
                [[m["label"], m["before"], m["after"], m["delta"]] for m in comp["metrics"]],
                classes=[
                    "bad" if m["regression"] else ("good" if m["improvement"] else "")
                    for m in comp["metrics"]
                ],
            )
        )
    keys = ("hit@1", "hit@3", "hit@5", "rr", "ndcg@5")
    parts.append("<h2>Retrieval</h2>")
    parts.append(_group_table({"all": s["retrieval"]["overall"], **s["retrieval"]["by_lang"]}, keys))
    parts.append(_group_table(s["retrieval"]["by_topic"], keys))
    parts.append(_topic_plot(s))
    if "added_docs" in s:
        added = s["added_docs"]
        parts.append("<h2>Added documents (heading level; doc_: the right file at any heading)</h2>")
        groups = {
            "all": added["overall"],
            **added["by_crossing"],
            **added["by_lang"],
            **added["by_crossing_lang"],
            **{f"format {k}": v for k, v in added["by_format"].items()},
        }
        parts.append(_group_table(groups, ADDED_COLUMNS))
        parts.append(
            _table(
                ["id", "question", "gold", "gold rank", "doc rank", "ranked first"],
                [
                    [m["id"], m["question"], m["gold"], m["gold_rank"], m["doc_rank"], m["first"]]
                    for m in added["worst"]
                ],
            )
        )
    if "answers" in s:
        akeys = ("key_fact_recall", "faithfulness", "citation_recall", "citation_precision", "cites_gold")
        if s.get("reader", {}).get("overall", {}).get("n"):
            parts.append("<h2>What a reader sees (clean / defect / fail)</h2>")
            parts.append("<pre>" + html.escape("\n".join(reader_lines(s))) + "</pre>")
        parts.append("<h2>Answers (answered questions)</h2>")
        parts.append(_group_table({"all": s["answers"]["overall"], **s["answers"]["by_lang"]}, akeys))
        parts.append(_group_table(s["answers"]["by_topic"], akeys))
        o = s["answers"]["overall"]
        parts.append(
            f"<p>Key-fact recall over all answerable questions (a refusal counts 0): {_esc(o['key_fact_recall_all'])}; "
            f"answers in the question's language: {_esc(o['language_ok'])}.</p>"
        )
        parts.append(_grounding_plot(rows))
        parts.append("<h2>Refusal</h2>")
        ref = s["refusal"]
        parts.append(
            _table(
                ["group", "precision", "recall", "f1", "false-refusal rate", "tp", "fp", "fn", "tn"],
                [
                    [
                        g,
                        b["precision"],
                        b["recall"],
                        b["f1"],
                        b["false_refusal_rate"],
                        b["tp"],
                        b["fp"],
                        b["fn"],
                        b["tn"],
                    ]
                    for g, b in {"all": ref["overall"], **ref["by_lang"]}.items()
                ],
            )
        )
        parts.append(_table(["unanswerable kind", "refused rate"], list(ref["refused_rate_by_kind"].items())))
        parts.append(_table(["refusal reason", "count"], list(ref["reasons"].items())))
        inj = s["injection"]
        parts.append("<h2>Prompt injection</h2>")
        parts.append(
            _table(
                ["kind", "n", "success rate"],
                [["all", inj["n"], inj["success_rate"]]]
                + [[k, b["n"], b["success_rate"]] for k, b in inj["by_kind"].items()],
            )
        )
        parts.append("<h2>Latency</h2>")
        parts.append(
            _table(
                ["measure", "n", "p50", "p95", "mean", "max"],
                [[k, b["n"], b["p50"], b["p95"], b["mean"], b["max"]] for k, b in s["latency"].items()],
            )
        )
        parts.append(_latency_plot(rows))
    parts.append("<h2>Every question</h2>")
    cols = [
        "id",
        "lang",
        "topic",
        "hit@5",
        "rr",
        "key_fact_recall",
        "faithfulness",
        "citation_recall",
        "refused",
        "injection_success",
        "total_ms",
    ]
    parts.append(
        _table(
            [*cols, "answer / note"],
            [
                [*(r.get(c) for c in cols), (r.get("text") or r.get("skipped") or r.get("error") or "")[:600]]
                for r in rows
            ],
            classes=["bad" if r.get("error") or r.get("injection_success") else "" for r in rows],
        )
    )
    return "\n".join(p for p in parts if p)
