"""The Markdown report of the generation benchmark (bench/generation.py): its tables from the report dict."""

from __future__ import annotations

from typing import Any

from bench.bandwidth import GB
from bench.first_token import render as render_first_token
from evals.tables import markdown_table, quantity

# --- the tables -------------------------------------------------------------------------------------------------


def render(report: dict[str, Any]) -> str:
    """The report as Markdown tables (printed and written to generation.md)."""
    meta, bw, bare = report["meta"], report["bandwidth"], report["bare"]
    e2e, ret, un, setup = (
        report["end_to_end"],
        report["retrieval"],
        report["unanswerable"],
        report["baseline_setup"],
    )
    out = [
        "# Generation benchmark",
        "",
        f"{meta['started']} → {meta['finished']}, {meta['machine']}; load average before "
        f"{meta['load_average_before'][0]}, after {meta['load_average_after'][0]}; peak RSS {meta['peak_rss_mb']} MB.",
        f"Model {meta['model']} ({meta['backend']}, {meta['quantization']}, threads {meta['threads']}); "
        f"embedder {meta['embedder']}; answers ≤ {meta['max_new_tokens']} tokens, temperature {meta['temperature']}.",
        "",
        "## 1. Bare generator vs the memory-bandwidth ceiling",
        "",
        f"Read bandwidth {bw['read_gb_per_s']:.1f} GB/s ({bw['threads']} thread(s), measured in this run); "
        f"weights read per token {quantity((report['model_bytes'] or 0) / GB if report['model_bytes'] else None, 3, ' GB')}; "
        f"ceiling {quantity(report['ceiling_tokens_per_s'], 1, ' tok/s')}. Median of {meta['options']['repeats']} runs.",
        "",
    ]
    out += markdown_table(
        ["prompt", "prompt tokens", "TTFT", "decode tok/s", "decode ÷ ceiling"],
        [
            [
                name,
                quantity(b["prompt_tokens"]),
                quantity(b["ttft_ms"], 0, " ms"),
                quantity(b["tokens_per_s"], 1),
                quantity(b["fraction_of_ceiling"], 2),
            ]
            for name, b in (("short (en)", bare["short"]), ("~700-token zh", bare["long_zh"]))
        ],
    )
    out += [
        "",
        "## 2. End to end: ours vs a plain llama-index pipeline (same embedder, same loaded model)",
        "",
    ]
    rows = []
    for group in ("zh", "en", "all"):
        o, b, r = (
            e2e["ours"]["summary"][group],
            e2e["baseline"]["summary"][group],
            e2e["ratio_ours_over_baseline"][group],
        )
        for label, key in (
            ("TTFT p50", "ttft_p50"),
            ("TTFT p95", "ttft_p95"),
            ("total p50", "total_p50"),
            ("total p95", "total_p95"),
        ):
            rows.append(
                [
                    group,
                    label,
                    quantity(o[f"{key}_ms"], 0, " ms"),
                    quantity(b[f"{key}_ms"], 0, " ms"),
                    quantity(r[f"{key}_ms"], 2),
                ]
            )
        rows.append(
            [
                group,
                "tok/s (median)",
                quantity(o["tokens_per_s_median"], 1),
                quantity(b["tokens_per_s_median"], 1),
                "",
            ]
        )
        rows.append(
            [
                group,
                "new tokens (mean)",
                quantity(o["new_tokens_mean"], 0),
                quantity(b["new_tokens_mean"], 0),
                "",
            ]
        )
        rows.append(
            [
                group,
                "refused / cited",
                f"{o['refused']} / {o['cited']} of {o['n']}",
                f"{b['refused']} / {b['cited']} of {b['n']}",
                "",
            ]
        )
    out += markdown_table(["lang", "figure", "ours", "baseline", "ours ÷ baseline"], rows)
    refused = e2e["ours"]["summary"]["all"]["refused"]
    if refused:
        out += [
            "",
            f"{refused} of our answers were refusals: they end before any generation and count with their "
            "(short) latency; the per-question rows show which.",
        ]
    out += [
        "",
        "Per question (prompt tokens in brackets: those llama.cpp's prompt cache served from the previous "
        "request — both pipelines get the same cache):",
        "",
    ]
    per_q = []
    for o, b in zip(e2e["ours"]["questions"], e2e["baseline"]["questions"], strict=True):
        per_q.append(
            [
                o["id"],
                f"{quantity(o['first_token_ms'])} / {quantity(o['total_ms'])} ms",
                f"{o['prompt_tokens']} ({o['cached_prompt_tokens']})",
                f"{o['new_tokens']} @ {quantity(o['tokens_per_s'], 1)}"
                + (f" (refused: {o['refusal_reason']})" if o["refused"] else ""),
                f"{quantity(b['first_token_ms'])} / {quantity(b['total_ms'])} ms",
                f"{b['prompt_tokens']} ({b['cached_prompt_tokens']})",
                f"{b['new_tokens']} @ {quantity(b['tokens_per_s'], 1)}",
            ]
        )
    out += markdown_table(
        [
            "question",
            "ours TTFT / total",
            "ours prompt (cached)",
            "ours tokens @ tok/s",
            "baseline TTFT / total",
            "baseline prompt (cached)",
            "baseline tokens @ tok/s",
        ],
        per_q,
    )
    out += [
        "",
        f"Baseline: {setup['embedding']} (agreement with our embedder: cosine query "
        f"{setup['embedding_agreement_cosine']['query']}, passage {setup['embedding_agreement_cosine']['passage']}); "
        f"{setup['nodes']} nodes of ~{setup['mean_node_chars']} chars (ours: {setup['our_chunks']} chunks of "
        f"~{setup['our_mean_chunk_chars']}), index built in {setup['index_build_s']} s; default top-k 2, compact synthesizer.",
        "",
        f"## 3. Retrieval hit@5 over {ret['questions']['all']} answerable questions",
        "",
        f"Rule: {ret['rule']}.",
        "",
    ]
    ret_rows = [
        ["ours top-5 (what our model answers from)", "ours_hit@5"],
        ["ours, evals' section-path rule", "ours_hit@5_section_rule"],
        ["baseline top-5", "baseline_hit@5"],
        ["baseline top-5, any overlap", "baseline_hit@5_any_overlap"],
        ["baseline top-2 (its default k: what it answers from)", "baseline_hit@2_default_k"],
    ]
    out += markdown_table(
        ["pipeline", "zh", "en", "all"],
        [[label] + [quantity(ret[key][g], 2) for g in ("zh", "en", "all")] for label, key in ret_rows],
    )
    out += [
        "",
        f"Retrieval time per question: ours {ret['ours_ms_per_question']:.0f} ms ("
        + (
            "English questions include the model's Chinese rendering"
            if ret.get("ours_translates_english", True)
            else "no model call: English questions search the English view"
        )
        + f"), baseline {ret['baseline_ms_per_question']:.0f} ms.",
        "",
        f"## 4. Off-topic questions ({un['n']}): ours refuses, the baseline has no refusal",
        "",
    ]
    out += markdown_table(
        ["pipeline", "refused", "declined in its text", "answered", "answers citing a passage"],
        [
            [
                "ours",
                str(un["ours_refused"]),
                "—",
                str(un["n"] - un["ours_refused"]),
                str(un["ours_answered_with_citations"]),
            ],
            [
                "baseline",
                "0 (no refusal path)",
                str(un["baseline_declines_in_text"]),
                str(un["baseline_answered"]),
                str(un["baseline_cited"]),
            ],
        ],
    )
    out += [
        "",
        '"Declined in its text" is a phrase match ("not mentioned", "没有提到", ...): the baseline\'s model '
        "sometimes says so in words, but nothing stops the answer, and it cites nothing.",
        "",
    ]
    if report.get("first_token"):
        out += render_first_token(report["first_token"])
    return "\n".join(out)
