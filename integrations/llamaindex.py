"""The advisor inside llama-index: a retriever and a query engine, for teams already on llama-index.

    from advisor import build_advisor
    from integrations.llamaindex import AdvisorQueryEngine, AdvisorRetriever

    engine = AdvisorQueryEngine(advisor=build_advisor())      # the advisor's checked, cited answers
    response = engine.query("AI大模型产品有哪些定价策略？")
    response.source_nodes[0].node.metadata["section"]          # "… › 5.3 … › 5.3.2 定价策略的类型"

    retriever = AdvisorRetriever(build_advisor(), k=5)        # only its retrieval, for your own pipeline
    RetrieverQueryEngine.from_args(retriever, llm=your_llm)

The query engine answers through the whole advisor (retrieval, the grounding gate, refusals): its
Response's source_nodes are the answer's citations, each a node with the cited passage, its section path
and the supporting quote. The retriever gives the passages the advisor would answer from, scored, for a
pipeline that writes its own answers. Only this module builds llama-index objects (DESIGN.md §4).
"""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.bridge.pydantic import Field
from llama_index.core.callbacks import CallbackManager
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from advisor import Advisor, Answer, Citation, Hit

# Identifiers that mean nothing to a language model or an embedder: kept out of the text they see.
_INTERNAL_KEYS = ["chunk_id", "doc_id", "rank", "citation", "quote"]


def _node(node_id: str, text: str, metadata: dict[str, Any]) -> TextNode:
    return TextNode(
        id_=node_id,
        text=text,
        metadata=metadata,
        excluded_llm_metadata_keys=_INTERNAL_KEYS,
        excluded_embed_metadata_keys=_INTERNAL_KEYS,
    )


def hit_node(hit: Hit) -> NodeWithScore:
    """A retrieved passage as a llama-index node: its text, its section path and source in metadata."""
    chunk = hit.chunk
    metadata = {
        "section": chunk.section,
        "source": chunk.source,
        "lang": chunk.lang,
        "chunk_id": chunk.chunk_id,
        "doc_id": chunk.doc_id,
        "rank": hit.rank,
    }
    return NodeWithScore(node=_node(chunk.chunk_id, chunk.text, metadata), score=float(hit.score))


def citation_node(citation: Citation, passage: Hit | None) -> NodeWithScore:
    """A citation `[n]` of an answer as a node: the cited passage (its quote when the passage is not at
    hand), the section path, the marker's number and the supporting quote in metadata."""
    marker = {"citation": citation.n, "quote": citation.quote}
    if passage is not None:
        cited = hit_node(passage)
        cited.node.metadata.update(marker)
        return cited
    metadata = {
        "section": citation.section,
        "source": citation.source,
        "chunk_id": citation.chunk_id,
        **marker,
    }
    return NodeWithScore(node=_node(citation.chunk_id, citation.quote, metadata), score=None)


def answer_response(answer: Answer) -> Response:
    """The advisor's Answer as a llama-index Response: the checked text, the citations as source nodes (in
    the order of their [n] markers), and whether and why it was refused in metadata."""
    passages = {h.chunk.chunk_id: h for h in (*answer.hits, *answer.passages)}
    return Response(
        response=answer.text,
        source_nodes=[citation_node(c, passages.get(c.chunk_id)) for c in answer.citations],
        metadata={
            "refused": answer.refused,
            "refusal_reason": answer.refusal_reason,
            "missing": list(answer.missing),
            "language": answer.language,
            "topic": answer.topic,
            "supported_fraction": answer.grounding.supported_fraction,
            "removed": list(answer.removed),
            "standalone_question": answer.standalone_question,
            "model_id": answer.model_id,
        },
    )


class AdvisorRetriever(BaseRetriever):
    """The advisor's hybrid retrieval (dense + BM25, cross-language) as a llama-index retriever."""

    def __init__(self, advisor: Advisor, k: int = 5, callback_manager: CallbackManager | None = None):
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        super().__init__(callback_manager=callback_manager)
        self._advisor = advisor
        self._k = k

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [hit_node(hit) for hit in self._advisor.retrieve(query_bundle.query_str, k=self._k)]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # The advisor blocks (and may run a model to translate the query): keep it off the event loop.
        return await asyncio.to_thread(self._retrieve, query_bundle)


class AdvisorQueryEngine(CustomQueryEngine):
    """The whole advisor as a llama-index query engine: grounded, cited answers, or honest refusals."""

    advisor: Any = Field(description="An Advisor (advisor.build_advisor()).")

    def custom_query(self, query_str: str) -> Response:
        return answer_response(self.advisor.ask(query_str))

    async def acustom_query(self, query_str: str) -> Response:
        return await asyncio.to_thread(self.custom_query, query_str)
