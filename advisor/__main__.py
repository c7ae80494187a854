"""Command line for the advisor.

    python -m advisor ask "QUESTION" [--json] [--stream]   one question; the checked answer, citations, timings
    python -m advisor chat                                 a terminal conversation (streaming, follow-ups)
    python -m advisor prepare                              assemble the offline model (and build a missing index),
                                                           render new lines in English, build the knowledge cache
    python -m advisor describe                             model, device, quantisation, embedder, index

Settings come from the environment (FA_* variables, FA_PROFILE), like everywhere else.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from typing import TextIO

from advisor.advisor import Advisor
from advisor.factory import AdvisorSetupError, build_advisor
from advisor.generate import Message
from advisor.types import Answer
from config import Settings, get_settings

EXIT_SETUP = 2
QUOTE_CHARS = 90
_LABELS = {
    "zh": {"sources": "引用", "refused": "未作回答", "timings": "耗时"},
    "en": {"sources": "Sources", "refused": "Not answered", "timings": "Timings"},
}


def _ensure_index(settings: Settings, out: TextIO) -> None:
    """A new user should not have to know about `python -m indexing build` before the first question."""
    if settings.index_dir.exists():
        return
    from indexing import build_index

    print(f"No index yet: building it from {settings.knowledge_dir} (once) ...", file=out, flush=True)
    print(build_index(settings).summary(), file=out, flush=True)


def _make_advisor(out: TextIO) -> Advisor:
    settings = get_settings()
    _ensure_index(settings, out)
    return build_advisor(settings)


def format_answer(answer: Answer, *, show_text: bool = True) -> str:
    """The checked answer for a terminal: text, then each citation with its section and quote, then timings."""
    labels = _LABELS.get(answer.language, _LABELS["en"])
    lines = [answer.text] if show_text else []
    if answer.refused:
        lines.append(f"({labels['refused']}: {answer.refusal_reason})")
    if answer.citations:
        lines.append(f"\n{labels['sources']}:")
        for c in answer.citations:
            quote = c.quote if len(c.quote) <= QUOTE_CHARS else c.quote[: QUOTE_CHARS - 1] + "…"
            lines.append(f"  [{c.n}] {c.section}  ({c.source})\n      “{quote}”")
    g = answer.grounding
    t = answer.timings
    lines.append(
        f"\n{labels['timings']}: retrieve {t.retrieve_ms:.0f} ms · first token {t.first_token_ms / 1000:.1f} s · "
        f"total {t.total_ms / 1000:.1f} s · {t.new_tokens} tokens at {t.tokens_per_s:.1f} tok/s · "
        f"topic {answer.topic} · supported {g.supported_fraction:.0%} · {len(answer.removed)} removed"
    )
    return "\n".join(lines)


def answer_to_json(answer: Answer) -> str:
    return json.dumps(dataclasses.asdict(answer), ensure_ascii=False, indent=2)


def _stream_answer(adv: Advisor, question: str, history: list[Message], out: TextIO) -> Answer:
    """Print the model's text as it comes, then the checked answer when the gate changed it."""
    streamed: list[str] = []
    for delta in adv.stream(question, history):
        if delta.done and delta.answer is not None:
            answer = delta.answer
            changed = answer.text.strip() != "".join(streamed).strip()
            if streamed and changed:
                print("\n\n— checked —" if answer.language == "en" else "\n\n— 核对后 —", file=out)
            print(
                ("\n" if not changed else "") + format_answer(answer, show_text=changed), file=out, flush=True
            )
            return answer
        streamed.append(delta.text)
        print(delta.text, end="", file=out, flush=True)
    raise RuntimeError("the answer stream ended without a final answer")


def cmd_ask(args: argparse.Namespace, out: TextIO) -> int:
    adv = _make_advisor(sys.stderr)
    if args.stream and not args.json:
        _stream_answer(adv, args.question, [], out)
        return 0
    answer = adv.ask(args.question)
    print(answer_to_json(answer) if args.json else format_answer(answer), file=out)
    return 0


def cmd_chat(args: argparse.Namespace, out: TextIO, inp: TextIO) -> int:
    adv = _make_advisor(out)
    info = adv.describe()
    print(
        f"Founder Advisor — {info['model']} on {info['device']} ({info['quantization']}), "
        f"{info['index']['chunks']} passages. Ask in 中文 or English; /reset forgets the conversation, "
        "/quit ends it.",
        file=out,
    )
    history: list[Message] = []
    while True:
        print("\n> ", end="", file=out, flush=True)
        line = inp.readline()
        if not line:  # EOF (Ctrl-D or the end of piped input)
            print(file=out)
            return 0
        question = line.strip()
        if not question:
            continue
        if question in ("/quit", "/exit", "/q"):
            return 0
        if question == "/reset":
            history.clear()
            print("(conversation forgotten)", file=out)
            continue
        try:
            answer = _stream_answer(adv, question, history, out)
        except (ValueError, TypeError) as exc:  # bad input: say why, keep the conversation
            print(f"! {exc}", file=out)
            continue
        if answer.standalone_question and answer.standalone_question != answer.question:
            print(f"(searched as: {answer.standalone_question})", file=out)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


def cmd_prepare(args: argparse.Namespace, out: TextIO) -> int:
    from advisor.offline_models import prepare_offline_model

    settings = get_settings()
    path = prepare_offline_model(settings)
    print(
        f"model ready: {path}" if path else f"llm_model {settings.llm_model!r} is not an offline model",
        file=out,
    )
    _ensure_index(settings, out)
    print(f"index ready: {settings.index_dir}", file=out)
    caching = settings.knowledge_cache and settings.llm_backend == "llamacpp"
    if settings.english_renderings or caching:
        # The English renderings of lines that have none (advisor/renderings.py), then the passages' KV
        # files (advisor/kv_cache.py): minutes once, then the first word comes in ~1-2 s.
        advisor = _make_advisor(sys.stderr)
        advisor.prepare_knowledge_cache(say=lambda line: print(line, file=out, flush=True))
        if advisor.renderings is not None:
            print(
                f"English renderings ready: {len(advisor.renderings)} lines by the model, "
                f"{advisor.renderings.reviewed} reviewed by people",
                file=out,
            )
            if args.ship_renderings:
                from advisor.renderings import SHIPPED

                n = advisor.renderings.export(SHIPPED, advisor.texts_to_render())
                print(
                    f"wrote {n} renderings to {SHIPPED.name} (commit it with the knowledge it renders)",
                    file=out,
                )
        if caching:
            print(f"knowledge cache ready: {settings.knowledge_cache_dir}", file=out)
    return 0


def cmd_describe(args: argparse.Namespace, out: TextIO) -> int:
    print(
        json.dumps(_make_advisor(sys.stderr).describe(), ensure_ascii=False, indent=2, default=str), file=out
    )
    return 0


def main(argv: list[str] | None = None, out: TextIO = sys.stdout, inp: TextIO = sys.stdin) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m advisor", description="Founder Advisor from the terminal."
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log model loading and per-answer figures"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the whole Answer as JSON")
    ask.add_argument("--stream", action="store_true", help="show the text while the model writes it")
    sub.add_parser("chat", help="a terminal conversation with follow-ups")
    prepare = sub.add_parser("prepare", help="assemble the offline model and build a missing index")
    prepare.add_argument(
        "--ship-renderings",
        action="store_true",
        help="maintainers: also write the index's English renderings to the file shipped with the code",
    )
    sub.add_parser("describe", help="what is running: model, device, embedder, index")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        if args.command == "ask":
            return cmd_ask(args, out)
        if args.command == "chat":
            return cmd_chat(args, out, inp)
        if args.command == "prepare":
            return cmd_prepare(args, out)
        return cmd_describe(args, out)
    except AdvisorSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
