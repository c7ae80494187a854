"""The Advisor: question (+ history) -> retrieved passages -> streamed answer -> grounding gate -> Answer.

Order of decisions for one question, cheapest first, so no tokens are spent on what will be refused:

1. validate the question and history (clear ValueError; nothing is lost);
2. a request for the instructions is refused before anything else (reason "instructions"); a question
   with an attack attached is answered without it (untrusted.py), and passages are cut of what they
   say to an AI reader when they are retrieved;
3. a follow-up is condensed into a standalone question with the recent history (condense.py);
4. topic (topic.py) and hybrid retrieval (retrieve.py);
5. weak retrieval is refused without generation: "off_topic" when the question has nothing to do with
   founding or running a company, "weak_retrieval" when it does but the knowledge base lacks it;
6. the model streams an answer from the numbered passages; the deltas go out as they come;
7. an answer that shows the prompt's canary or a verbatim span of the instructions is refused
   ("instructions"; guard.py holds back a possible canary while streaming, so it is never shown);
8. the grounding gate (ground.py) checks every sentence; too little support -> refusal ("unsupported").

The final delta carries the authoritative Answer: its text can differ from the streamed text (markers
cleaned, unsupported sentences marked or removed, or the whole answer replaced by a refusal).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from advisor.answer_format import (
    LoopGuard,
    Relabel,
    answer_grammar,
    is_not_covered,
    lead_points,
    parse_points,
    render,
    unique_lines,
)
from advisor.answerability import missing_specifics
from advisor.bilingual import texts_to_render
from advisor.completion import complete_list, points_held, without_lead_in
from advisor.condense import condense_question, follow_up_context, looks_like_follow_up, own_words_of
from advisor.definition import with_definition
from advisor.extract import quoted_answer, quoted_items
from advisor.focus import focus_passages, lead_family, named_section
from advisor.generate import Generator, Message, stream_in_language
from advisor.ground import check_answer
from advisor.guard import asks_for_instructions, instruction_leak_guard, is_in_domain
from advisor.kv_cache import KnowledgeCache
from advisor.point_names import canonical_names, canonical_terms, sourced_names
from advisor.references import referred_company
from advisor.renderings import Renderings
from advisor.retrieve import HybridRetriever, Retrieval
from advisor.support import SupportChecker, warm_checker
from advisor.topic import classify_topic
from advisor.types import Answer, AnswerDelta, Grounding, Hit, Timings, Topic, TurnSearch
from advisor.untrusted import plain_question
from config import Settings
from indexing import Embedder, VectorIndex, ViewsChoice, search_text, views_for_chunks
from textkit import detect_language

log = logging.getLogger(__name__)

# Sections offered with a refusal ("the closest sections are ...").
CLOSEST_SECTIONS = 3
# Passages the gate's checker reads at start-up (warm_gate): the playbook is 77; an incubator's large
# collection is read as it is cited instead of delaying the start by minutes.
GATE_WARM_PASSAGES = 400


class Advisor:
    """Answers founders' questions from the knowledge base, one generation at a time."""

    def __init__(
        self,
        settings: Settings,
        *,
        generator: Generator,
        embedder: Embedder,
        index: VectorIndex,
        checker: SupportChecker,
        retriever: HybridRetriever | None = None,
        knowledge_cache: KnowledgeCache | None = None,
        renderings: Renderings | None = None,
        chinese_renderings: Renderings | None = None,
        views: ViewsChoice | None = None,
    ):
        self.settings = settings
        # Whether the retriever searches the index's bilingual views, and why (factory.py decides it from
        # the index; without one, the same rule on the settings and this index).
        self.views = views or views_for_chunks(settings.bilingual_views, index.chunks)
        # English prompts show the passages' English renderings (renderings.py); None: the Chinese text.
        self.renderings = renderings
        # English lines in Chinese, for the retriever's Chinese view only (bilingual.py); made by prepare.
        self.chinese_renderings = chinese_renderings
        # The passages' KV, read once and restored per answer (kv_cache.py); None: every prompt is read.
        self.knowledge_cache = knowledge_cache
        self.generator = generator
        self.embedder = embedder
        self.index = index
        self.checker = checker
        self.retriever = retriever or HybridRetriever(index, embedder, settings)
        # One generation at a time: a local model cannot serve two prompts faster than one after the
        # other, and two llama.cpp calls on one context would corrupt each other. The app queues.
        self._lock = threading.Lock()

    # --- public API ---------------------------------------------------------------------------
    def retrieve(self, question: str, k: int = 5) -> list[Hit]:
        """The k passages the advisor would answer `question` from (no generation, no history)."""
        question = self._validated_question(question)
        with self._lock:  # an English question may be translated by the model first
            return list(self.retriever.retrieve(question, k=k, topic=classify_topic(question)).hits)

    def search(self, question: str, history: Sequence[Message] = (), k: int | None = None) -> TurnSearch:
        """What the advisor would read for `question` after `history`: the condensed question, its topic
        and its ranked hits (k, default settings.top_k), without generating an answer."""
        question = self._validated_question(question)
        history = _validated_history(history)
        language = detect_language(question, default=_history_language(history))
        with self._lock:  # condensing (and an English question's rendering) runs the model
            standalone = condense_question(question, history, language, self.generator, self.settings)
            topic, found = self._retrieve_turn(question, standalone, history, k or self.settings.top_k)
        return TurnSearch(standalone, topic, found.hits, found.weak)

    def ask(self, question: str, history: Sequence[Message] = ()) -> Answer:
        """The checked Answer (blocking)."""
        for delta in self.stream(question, history):
            if delta.done and delta.answer is not None:
                return delta.answer
        raise RuntimeError("the answer stream ended without a final answer")  # a bug, never expected

    def stream(
        self, question: str, history: Sequence[Message] = (), stop_event: threading.Event | None = None
    ) -> Iterator[AnswerDelta]:
        """Deltas while the model writes; the last one has done=True and the authoritative Answer.

        Closing the iterator early (a closed browser tab) or setting `stop_event` stops the generation.
        """
        question = self._validated_question(question)
        history = _validated_history(history)
        stop = stop_event or threading.Event()
        with self._lock:
            try:
                yield from self._answer(question, history, stop)
            finally:
                stop.set()  # also reached on GeneratorExit: the backend stops producing tokens

    def warm_up(self) -> None:
        """Touch every model once, so the first founder does not wait for weights to page in.

        A GGUF model is memory-mapped: its first prompt reads ~1 GB from disk and the embedder builds its
        graph on its first call. One tiny question-free pass through each costs seconds now instead of
        minutes on the first real answer.
        """
        self.embedder.embed(["warm-up"], kind="query")
        # The cross-language checker loads its dictionary (CC-CEDICT, ~8 s) on first use: do it now.
        self.checker.score("warm-up check", ["预热检查"])
        # The answerability check reads an English name in a Chinese passage by its pinyin (~1.5 s to load).
        missing_specifics("Is Yunchuan covered?", "云川市")
        with self._lock:
            # "en": a backend that masks CJK tokens in English answers prepares that mask now, not on the
            # first English question.
            for _ in stream_in_language(
                self.generator, [{"role": "user", "content": "hi"}], 1, 0.0, None, "en"
            ):
                pass
        # Outside the lock: a question that arrives meanwhile is answered; its gate reads what is not read yet.
        self.warm_gate()

    def warm_gate(self, limit: int = GATE_WARM_PASSAGES) -> int:
        """Read the first `limit` indexed passages (and their English renderings) through the gate's checker
        once; returns how many texts were read.

        The checker caches what it derives from a passage (the align checker's encoded windows, the
        bridge's English words): an answer citing a passage for the first time paid that, ~0.3-0.4 s a
        sentence, which made the gate's p95 (bench checker) three times its 150 ms budget (warm: en 115 ms,
        zh 46 ms). The playbook's 154 texts take ~60 s on two cores. Both routes are
        touched (a Chinese and an English claim), since each caches its own part.
        """
        hits = [Hit(chunk, 0.0, i + 1) for i, chunk in enumerate(self.index.chunks[:limit])]
        texts = [search_text(h.chunk) for h in hits]  # as the gate reads them (ground.check_answer)
        if self.renderings is not None:
            texts += [search_text(h.chunk) for h in self.renderings.for_prompt(hits)]
        return warm_checker(self.checker, texts)

    def prepare_knowledge_cache(self, say: Callable[[str], None] | None = None) -> None:
        """Render the lines that have no English rendering yet, then build the knowledge cache's missing or
        stale files (minutes on 2 cores; a no-op when both are current).

        Renderings first: an English cache file holds the rendered passage, so new renderings change it.
        """
        with self._lock:
            rendered = 0
            if self.renderings is not None:
                rendered = self.renderings.build(self.generator, self.texts_to_render(), say=say)
                if rendered and self.knowledge_cache is not None:
                    self.knowledge_cache.refresh()
            if self.chinese_renderings is not None:
                rendered += self.chinese_renderings.build(self.generator, self.texts_to_render(), say=say)
            if rendered:
                self.retriever.refresh_views()
            if self.knowledge_cache is not None:
                self.knowledge_cache.ensure(say=say)

    def texts_to_render(self) -> Iterable[str]:
        """The passages' lines, and their headings when the retriever searches the English view too."""
        if self.views.on:
            return texts_to_render(self.index.chunks)
        return (c.text for c in self.index.chunks)

    def describe(self) -> dict[str, Any]:
        """What is running: model, device, quantisation, embedder, index counts, checker, retrieval."""
        s = self.settings
        gen_info = self.generator.describe() if hasattr(self.generator, "describe") else {}
        manifest = getattr(self.index, "manifest", {}) or {}
        return {
            "profile": s.profile,
            "model": self.generator.model_id,
            "backend": s.llm_backend,
            "device": self.generator.device,
            "quantization": gen_info.get("quantization") or gen_info.get("dtype") or s.llm_quantization,
            **{f"generator_{k}": v for k, v in gen_info.items() if k not in ("model", "device")},
            "embedder": self.embedder.model_id,
            "embedding_dim": self.embedder.dim,
            "index": {
                "chunks": len(self.index),
                "sources": _counts_by_source(self.index),
                "built_at": manifest.get("built_at"),
                "device": getattr(self.index, "device", "cpu"),
            },
            "checker": self.checker.name,
            "retrieval": {
                "top_k": s.top_k,
                "bm25": s.use_bm25,
                "translate_queries": s.translate_queries,
                "bilingual_views": self.views.as_dict(),
                "view_chunks": {view.language: view.rendered for view in self.retriever.views},
                "reranker": s.reranker,
                "min_dense_score": s.min_dense_score,
            },
            "grounding": {
                "support_threshold": s.support_threshold,
                "min_supported_fraction": s.min_supported_fraction,
                "unsupported_policy": s.unsupported_policy,
            },
        }

    # --- the pipeline -------------------------------------------------------------------------
    def _answer(self, question: str, history: list[Message], stop: threading.Event) -> Iterator[AnswerDelta]:
        t0 = time.perf_counter()
        language = detect_language(question, default=_history_language(history))
        base = {"question": question, "language": language, "model_id": self.generator.model_id}

        attacked = asks_for_instructions(question)
        if attacked:
            # A founder's question with an attack attached is answered without the attack (the model
            # never reads it); a message that is only an attack is refused.
            plain = plain_question(question)
            if plain is None:
                yield self._refusal(base, "instructions", t0, standalone=question)
                return
            question = plain

        cache = self.knowledge_cache
        standalone = condense_question(
            question,
            history,
            language,
            self.generator,
            self.settings,
            stop,
            before=(lambda: cache.restore_fixed(f"condense-{language}")) if cache is not None else None,
        )
        if standalone != question and asks_for_instructions(standalone):
            yield self._refusal(base, "instructions", t0, standalone=standalone)
            return
        t_retrieve = time.perf_counter()
        topic, found = self._retrieve_turn(question, standalone, history, self.settings.top_k)
        retrieve_ms = _ms(t_retrieve)
        base.update(standalone_question=standalone, topic=topic, hits=found.hits)

        in_domain = is_in_domain(standalone) or _continues_on_domain(question, standalone, history)
        if not in_domain and (found.weak or found.lexical_match is False):
            yield self._refusal(base, "off_topic", t0, retrieve_ms=retrieve_ms)
            return
        if found.weak or not found.hits:
            yield self._refusal(base, "weak_retrieval", t0, retrieve_ms=retrieve_ms)
            return
        passages = _answer_passages(found, self.settings, language)
        if self.settings.focus_passages:
            # found.queries[1:] are the question's Chinese renderings (English questions, translate_queries
            # on; none by default), which name the playbook's headings in its own words.
            passages = focus_passages(
                standalone,
                passages,
                renderings=found.queries[1:],
                drop_examples=self.settings.drop_redundant_examples,
                asked=question,
            )
        if self.settings.lead_family_only:
            passages = lead_family(passages)
        if self.settings.check_answerability:
            # The passages the model would read must hold what is asked: an answer can only come from them
            # (on the 98 answerable questions this refuses none; on the 40 hard unanswerable ones, 24).
            # A passage states what its document's title names: every chunk of 云川市创业补贴政策.txt is about
            # 云川 even where its text says only "本市" (search_text: title, heading path, text).
            missing = missing_specifics(
                standalone, "\n".join(search_text(h.chunk) for h in passages), asked=question
            )
            if missing:
                # The refusal says what the knowledge base does not mention: only what no passage of it has
                # (OpenAI is in the playbook even when the passages read for "OpenAI是哪年成立的" lack it).
                named = tuple(m for m in missing if not self._mentions(m))
                yield self._refusal(base, "not_covered", t0, retrieve_ms=retrieve_ms, missing=named)
                return

        from advisor.prompting import answer_messages  # the prompt templates' owner

        # With the lead passage's prompt restored from the knowledge cache, the prompt begins with exactly
        # its tokens (passages under their stable labels); the labels become 1..n as they stream.
        # Passages all cut by focus to the item asked about: the instructions go first, so that they come
        # from the cache's fixed file (no passage file can be a prefix of such a prompt).
        whole_text = {h.chunk.chunk_id: h.chunk.text for h in found.hits}  # the passages' uncut chunks
        item_only = all(whole_text.get(h.chunk.chunk_id) != h.chunk.text for h in passages)
        labels: list[int] | None = None
        if self.knowledge_cache is not None and self.knowledge_cache.ready(language):
            arranged = self.knowledge_cache.arrange(passages)
            if self.knowledge_cache.restore(language, arranged.passages[0], arranged.passages[1:]):
                passages, labels = arranged.passages, arranged.labels
            else:
                # No whole passage with a file: at least the system prompt (and, for cut passages, the
                # instructions) is not read again after a translation or condensation took the slot.
                self.knowledge_cache.restore_fixed(f"answer-{language}")
        relabel = Relabel(labels) if labels else None
        # An English answer reads the passages in English (renderings.py); the gate, the quotes and the
        # playbook's terms keep reading the original `passages`.
        read = (
            self.renderings.for_prompt(passages)
            if self.renderings is not None and language == "en"
            else passages
        )

        # The standalone question already carries what the history contributes to this turn; leaving
        # the history out keeps the prompt short, which on a CPU is most of the time to first token.
        messages = answer_messages(
            standalone,
            read,
            language,
            topic,
            history=(),
            context_tokens=self.settings.llm_context_tokens,
            max_new_tokens=self.settings.llm_max_new_tokens,
            canary=self.settings.prompt_canary,
            labels=labels,
            instructions_first=item_only,
        )
        # Only a backend that samples under a grammar gets one; the others write free text (see below).
        grammar = None
        if self.settings.answer_grammar and getattr(self.generator, "accepts_grammar", False):
            grammar = answer_grammar(
                language,
                len(passages),
                points_held([h.chunk.text for h in passages], self.settings.answer_max_points),
                "\n".join(h.chunk.text for h in passages),
                labels=labels,
            )
        # The sources are known now; the first token is seconds away (the prompt is being read): show them.
        yield AnswerDelta(text="", sources=tuple(passages), status="reading", language=language)
        leak_guard = instruction_leak_guard(self.settings.prompt_canary)
        loop_guard = LoopGuard()
        pieces: list[str] = []
        streamed = False
        first_token_ms = 0.0
        t_gen = time.perf_counter()
        for piece in stream_in_language(
            self.generator,
            messages,
            self.settings.llm_max_new_tokens,
            self.settings.llm_temperature,
            stop,
            language,
            grammar,
        ):
            if relabel is not None:
                piece = relabel.feed(piece)
            if not piece:
                continue
            if not pieces:
                first_token_ms = _ms(t0)
            pieces.append(piece)
            shown = leak_guard.feed(piece)
            if leak_guard.tripped:
                stop.set()  # the answer will not be shown: no more tokens for it
                break
            if shown:
                streamed = True
                yield AnswerDelta(text=shown)
            if loop_guard.feed(piece):
                stop.set()  # a point repeated: greedy decoding has entered a loop, the rest would repeat too
                break
        if relabel is not None and not leak_guard.tripped and (held := relabel.flush()):
            pieces.append(held)  # a marker the model left open at the very end
            if shown := leak_guard.feed(held):
                streamed = True
                yield AnswerDelta(text=shown)
        if tail := leak_guard.flush():
            streamed = True
            yield AnswerDelta(text=tail)
        new_tokens, tokens_per_s = _generation_figures(
            self.generator, len(pieces), time.perf_counter() - t_gen
        )
        raw = "".join(pieces)
        # Defence in depth: the model was told never to write the canary, so an answer showing it (or
        # the instructions verbatim) followed an injected instruction; nothing of it can be trusted.
        leaked = leak_guard.tripped or leak_guard.reveals(raw)
        if not leaked and is_not_covered(raw, language):
            # The model read the passages and found none that answers: the honest refusal, with sections.
            yield self._refusal(base, "not_covered", t0, retrieve_ms=retrieve_ms, streamed=streamed)
            return
        # Under the grammar the shape the reader sees is rendered by code from the points the model wrote
        # (a line cut short by the loop guard is dropped). Free text from a backend without grammar support
        # goes to the gate as written: every sentence of it is checked, and what is removed is listed.
        points = parse_points(raw) if grammar else []
        if self.settings.points_from_lead_passage:

            def named(sources: Sequence[int]) -> int | None:
                headings = [passages[n - 1].chunk.section if 0 < n <= len(passages) else "" for n in sources]
                i = named_section(standalone, headings, renderings=found.queries[1:])
                return None if i is None else sources[i]

            def document_of(n: int) -> str:
                return passages[n - 1].chunk.source if 0 < n <= len(passages) else ""

            points, drifted = lead_points(points, prefer=named, document_of=document_of)
            if drifted:
                log.info("dropped %d point(s) citing passages beside the lead one", len(drifted))
        # A question that names one item ("…the legal risks?") is left as answered (complete_list): a guard on
        # the question's wording instead ("哪些", "what are") missed "What pricing strategies exist?" and
        # "What lessons…" in the 08:43 run, which were given 2 and 3 of 4 items.
        read_texts = [h.chunk.text for h in read]
        points = without_lead_in(points, read_texts)
        if self.settings.complete_lists:
            points = complete_list(points, read_texts, standalone)
        if self.settings.add_definitions:
            points = with_definition(
                points, [h.chunk.text for h in passages], read_texts, standalone, language
            )
        # A point's bold name that means one list item of the passages is written as that item's term.
        passage_texts = [h.chunk.text for h in passages]
        points = canonical_names(points, passage_texts, language)
        points = sourced_names(points, passage_texts, standalone)
        shaped = canonical_terms(
            render(points, language) if points else unique_lines(raw), passage_texts, language
        )
        # A Chinese answer citing an English document may also be held to its Chinese rendering (ground.py).
        translated = (
            self.chinese_renderings.for_prompt(passages)
            if language == "zh" and self.chinese_renderings is not None
            else None
        )
        gate = (
            None
            if leaked
            else check_answer(shaped, passages, self.checker, self.settings, read=read, translated=translated)
        )
        if (
            gate is not None
            and (gate.refuse or not gate.text.strip())
            and self.settings.quote_when_unsupported
        ):
            quoted = quoted_answer(points or parse_points(raw), read_texts)
            if quoted is None and item_only:
                quoted = quoted_items(read_texts)  # the item asked about is all the passages hold
            rescued = (
                check_answer(quoted, passages, self.checker, self.settings, read=read, translated=translated)
                if quoted
                else None
            )
            if rescued is not None and not rescued.refuse and rescued.text.strip():
                gate = rescued
        timings = Timings(  # total includes the gate: the reader waits for it too
            retrieve_ms=retrieve_ms,
            first_token_ms=first_token_ms,
            total_ms=_ms(t0),
            new_tokens=new_tokens,
            tokens_per_s=tokens_per_s,
        )
        if gate is None:
            # Prompt text in the answer: withheld. "I cannot share my instructions" answers a message that
            # asked for them; a founder's plain question whose answer merely echoed a rule of the prompt
            # ("…does not cover this question. Never make anything up.", asked about runway in a pitch
            # deck) gets the plain refusal instead.
            reason = "instructions" if attacked else "unsupported"
            yield self._refusal(base, reason, t0, retrieve_ms=retrieve_ms, timings=timings, streamed=streamed)
            return
        if gate.refuse or not gate.text.strip():
            yield self._refusal(
                base,
                "unsupported",
                t0,
                retrieve_ms=retrieve_ms,
                grounding=gate.grounding,
                timings=timings,
                streamed=streamed,
                passages=tuple(passages),  # what the gate's verdicts cite, for whoever diagnoses the refusal
            )
            return
        answer = Answer(
            **base,
            text=gate.text,
            citations=gate.citations,
            grounding=gate.grounding,
            timings=timings,
            removed=gate.removed,
            passages=tuple(passages),
        )
        yield AnswerDelta(text="", done=True, answer=answer)

    def _retrieve_turn(
        self, question: str, standalone: str, history: Sequence[Message], k: int
    ) -> tuple[Topic, Retrieval]:
        """The topic and the retrieval of one turn, whose asked form is `question` and whose condensed form
        is `standalone` (the same text for a question without history).

        A follow-up that names no topic of its own ("举个例子？", "Which of those suits …?") is also kept in
        the part of the knowledge base its last exchange came from (follow_up_context, weighted by
        settings.follow_up_context_weight); one that names a topic ("What about team culture?") has moved
        on, and the old part would only pull it back, unless it names the topic of the company the
        conversation is about.
        """
        # The follow-up's own words name the current point ("那风险呢？" after a pricing question is about
        # risk, even when the rewrite mentions both); the rewrite decides only when they name none.
        topic = own_topic = classify_topic(question)
        if topic == "other":
            topic = classify_topic(standalone)
        # A topic of the company the conversation is about is in that company's case: "Tell me more about its
        # business model." after "OpenAI为什么能够成功？" asks for OpenAI's (6.1.2). Searched without the
        # conversation and lifted to the business-model chapter, it found only 5.1's business models in
        # general, and was refused as not mentioning OpenAI (conv-zh-en-openai-bm).
        of_the_company = referred_company(question, history) is not None
        keeps_context = own_topic == "other" or of_the_company
        context = follow_up_context(question, history, self.settings) if keeps_context else []
        found = self.retriever.retrieve(
            standalone,
            k=k,
            topic="other" if of_the_company and context else topic,
            context=context,
            context_weight=self.settings.follow_up_context_weight,
            own_words=own_words_of(question, standalone, context),
            own_words_weight=self.settings.follow_up_own_words_weight,
        )
        return topic, found

    def _refusal(
        self,
        base: dict[str, Any],
        reason: str,
        t0: float,
        *,
        standalone: str | None = None,
        retrieve_ms: float = 0.0,
        grounding: Grounding | None = None,
        timings: Timings | None = None,
        streamed: bool = False,
        missing: tuple[str, ...] = (),
        passages: tuple[Hit, ...] = (),
    ) -> AnswerDelta:
        from advisor.prompting import refusal_text

        fields = dict(base)
        if standalone is not None:
            fields["standalone_question"] = standalone
        # Sections are offered only where the playbook came close; for small talk and prompt-extraction
        # attempts nothing in it is close, and listing passages would only invite more probing.
        offers_sections = reason in ("weak_retrieval", "not_covered", "unsupported")
        hits: tuple[Hit, ...] = fields.pop("hits", ()) if offers_sections else ()
        fields.pop("hits", None)
        text = refusal_text(fields["language"], reason, _closest_sections(hits), missing)
        total = _ms(t0)
        answer = Answer(
            **fields,
            text=text,
            hits=hits,
            refused=True,
            refusal_reason=reason,
            missing=missing,
            passages=passages,
            grounding=grounding or Grounding(checker=self.checker.name),
            timings=timings or Timings(retrieve_ms=retrieve_ms, first_token_ms=total, total_ms=total),
        )
        # delta.text is always text to append; after streamed pieces the refusal replaces them instead
        # (answer.text is authoritative), so it is not appended.
        return AnswerDelta(text="" if streamed else text, done=True, answer=answer)

    def _mentions(self, term: str) -> bool:
        """Whether any passage of the knowledge base contains the term (a few hundred chunks: a scan)."""
        term = term.lower()
        return any(term in chunk.text.lower() for chunk in self.index.chunks)

    def _validated_question(self, question: Any) -> str:
        if not isinstance(question, str):
            raise TypeError(f"question must be a str, got {type(question).__name__}")
        question = question.strip()
        if not question:
            raise ValueError("the question is empty: ask something about founding or running a company")
        if len(question) > self.settings.max_question_chars:
            raise ValueError(
                f"the question is {len(question)} characters long; the limit is "
                f"{self.settings.max_question_chars} (FA_MAX_QUESTION_CHARS). Shorten it or split it."
            )
        return question


def _validated_history(history: Any) -> list[Message]:
    if history is None:
        return []
    if isinstance(history, str | bytes | Mapping):
        raise TypeError(
            "history must be a list of {'role': ..., 'content': ...} messages, not a single value"
        )
    messages = []
    for i, m in enumerate(history):
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise ValueError(f"history[{i}] must be a mapping with 'role' and 'content'; got {m!r:.80}")
        if m["role"] not in ("user", "assistant", "system"):
            raise ValueError(f"history[{i}] has role {m['role']!r}; expected 'user' or 'assistant'")
        messages.append({"role": str(m["role"]), "content": str(m["content"] or "")})
    return messages


def _history_language(history: Sequence[Message]) -> str:
    for m in reversed(history):
        if m["role"] == "user" and m["content"].strip():
            return detect_language(m["content"])
    return "en"


def _answer_passages(found: Any, settings: Settings, language: str) -> list[Hit]:
    """The retrieved passages the model reads: those close to the best one (at least min_passages).

    Passages far below the best match mostly invite points that answer another question (an answer on
    pricing drifting into marketing), and every passage costs ~200 prompt tokens, read at ~70 tokens/s.
    On the 98 answerable questions a margin of 0.025 in dense similarity keeps ~2.8 of 5 passages and
    drops no gold passage (0.01 would drop two). An English question's cosines are English ones (the
    English view), spread wider: its margin is passage_score_margin_en.
    """
    hits = list(found.hits)
    margin = settings.passage_score_margin_en if language == "en" else settings.passage_score_margin
    if margin <= 0 or not found.dense_scores:
        return hits
    return [
        h
        for h in hits
        if h.rank <= settings.min_passages
        or found.best_dense - found.dense_scores.get(h.chunk.chunk_id, float("-inf")) <= margin
    ]


def _continues_on_domain(question: str, standalone: str, history: Sequence[Message]) -> bool:
    """A follow-up ("给我举个例子。", "那书呢？", "第二种是什么意思？") is about what its conversation is about,
    so it is on the domain when the conversation's questions were, whatever its own few words say. Judged on its
    words alone, 10 of the 76 covered follow-ups of the conversation set were refused, 3 of them as off topic
    ("Value-based pricing是什么意思？" with 5.3.2 retrieved first); a question that does not lean on the
    conversation ("今天天气怎么样") is still judged on its own."""
    if not history or (standalone == question and not looks_like_follow_up(question)):
        return False
    # Any earlier question: the one before may itself be a follow-up ("数据集呢？" before "那书呢？").
    return any(is_in_domain(m["content"]) for m in history if m["role"] == "user")


def _closest_sections(hits: Sequence[Hit]) -> list[str]:
    sections: list[str] = []
    for hit in hits:
        if hit.chunk.section and hit.chunk.section not in sections:
            sections.append(hit.chunk.section)
    return sections[:CLOSEST_SECTIONS]


def _counts_by_source(index: VectorIndex) -> dict[str, int]:
    counts: dict[str, int] = {}
    for chunk in index.chunks:
        counts[chunk.source] = counts.get(chunk.source, 0) + 1
    return counts


def _generation_figures(generator: Generator, pieces: int, seconds: float) -> tuple[int, float]:
    """(new tokens, tokens/s) of the answer just generated.

    Backends that measured it (GenerationStats: exact token count, decode speed without the prompt
    time) are believed; otherwise a streamed piece is one token and the rate is over the whole call.
    """
    stats = getattr(generator, "last_stats", None)
    if stats is not None and getattr(stats, "new_tokens", 0):
        return int(stats.new_tokens), float(stats.tokens_per_s)
    usage = getattr(generator, "last_usage", None)
    tokens = (
        int(usage["completion_tokens"])
        if isinstance(usage, Mapping) and usage.get("completion_tokens")
        else pieces
    )
    return tokens, tokens / seconds if seconds > 0 else 0.0


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0


__all__ = ["Advisor", "Topic"]
