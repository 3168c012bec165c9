"""The one typed settings object.

Values come, lowest priority first, from: the built-in defaults, `hubchat.toml`, the named profile section of
that file (`[profiles.NAME]`, chosen with `--profile NAME` or `HUBCHAT_PROFILE`), then `HUBCHAT_*` environment
variables (nested keys joined with `__`, e.g. `HUBCHAT_CHAT__BACKEND=extractive`).

Relative paths are resolved against the folder holding the config file, so the app behaves the same from any
working directory.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from hubchat.errors import ConfigError

DEFAULT_CONFIG_NAME = "hubchat.toml"
# scheme://host[:port], as a browser sends it in an Origin header.
_ORIGIN = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorpusSettings(_Section):
    """`[corpus]`: where the articles are and how they are read."""

    path: Path = Field(
        default=Path("corpus"),
        description="Folder of articles, read recursively: Markdown with front matter, HTML pages and plain text. "
        "Hidden files and folders are ignored.",
    )
    site_url: str = Field(
        default="https://aitoolshub.example",
        description="Base address of the site. Article `url`s are site paths (such as `/guides/x`); links to the "
        "articles are shown under this address.",
    )
    max_file_bytes: int = Field(
        default=2_000_000,
        gt=0,
        description="Largest corpus file read, in bytes; larger files are skipped with a warning in the ingest summary.",
    )
    watch: bool = Field(
        default=True,
        description="While `hubchat serve` runs, watch the corpus folder and ingest a new, edited or deleted file "
        "within seconds (incrementally, while the chat keeps serving).",
    )


class SiteSettings(_Section):
    """`[site]`: pages fetched from the site itself by `hubchat sync` (and by `hubchat serve` on an interval).

    Nothing is fetched unless one of `sitemaps`, `feeds` or `urls` is set.
    """

    sitemaps: tuple[str, ...] = Field(
        default=(),
        description="Addresses of sitemaps (`sitemap.xml`, or a sitemap index listing sitemaps) whose pages are "
        "indexed. A page that leaves the sitemap leaves the index.",
    )
    feeds: tuple[str, ...] = Field(
        default=(),
        description="Addresses of RSS or Atom feeds whose entries' pages are indexed. A page that leaves the feed "
        "leaves the index (a feed lists recent articles: prefer a sitemap for the whole site).",
    )
    urls: tuple[str, ...] = Field(default=(), description="Addresses of single pages to index.")
    interval_s: float = Field(
        default=0.0,
        ge=0,
        description="While `hubchat serve` runs, sync the site this often, in seconds (the first sync right after "
        "start-up); 0 never syncs from `serve` (run `hubchat sync` instead).",
    )
    user_agent: str = Field(
        default="hubchat/0.1 (article sync for the site's chat assistant)",
        min_length=1,
        description="User-Agent header of every request; also the name looked up in the site's `robots.txt`, which "
        "is always obeyed.",
    )
    concurrency: int = Field(default=4, ge=1, le=32, description="Requests in flight at once.")
    rate_per_s: float = Field(
        default=4.0, gt=0, description="Requests started per second at most, across all of them (be polite to the site)."
    )
    timeout_s: float = Field(
        default=15.0,
        gt=0,
        description="Longest one request may take, in seconds (connecting, waiting and reading the whole page); a "
        "page that takes longer counts as failed and keeps its last good version.",
    )
    max_page_bytes: int = Field(
        default=2_000_000,
        gt=0,
        description="Largest page (or sitemap or feed) read, in bytes; a larger one counts as failed and keeps its "
        "last good version.",
    )
    max_redirects: int = Field(
        default=5, ge=0, le=20, description="Redirects followed per request; more (or a redirect loop) is a failure."
    )
    retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a request that timed out, could not connect or got a 5xx answer, after waiting "
        "`site.backoff_s`, then twice that, and so on.",
    )
    backoff_s: float = Field(default=0.5, ge=0, description="Wait before the first retry, in seconds; it doubles each retry.")

    @model_validator(mode="after")
    def _addresses_are_http(self) -> SiteSettings:
        from urllib.parse import urlsplit

        for kind in ("sitemaps", "feeds", "urls"):
            for address in getattr(self, kind):
                parts = urlsplit(address)
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise ValueError(f"site.{kind}: {address!r} is not an http(s) address such as https://example.com/sitemap.xml")
        return self

    @property
    def configured(self) -> bool:
        """Whether any source is set (otherwise nothing is ever fetched)."""
        return bool(self.sitemaps or self.feeds or self.urls)


class IndexSettings(_Section):
    """`[index]`: where the index lives."""

    dir: Path = Field(
        default=Path(".hubchat/index"),
        description="Folder of the index: the embedded Chroma database (`store.mode = \"embedded\"`), the lexical "
        "(BM25) index and the ingest manifest.",
    )
    collection: str = Field(
        default="hubchat-articles",
        min_length=3,
        max_length=512,
        description="Name of the Chroma collection holding the chunks; Chroma's naming rules apply. A rebuild writes "
        "`NAME--gN` beside it and switches over when done; `NAME--active` records which one is live.",
    )
    refresh_s: float = Field(
        default=2.0,
        ge=0,
        description="How often a serving process checks whether another process changed or rebuilt the index "
        "(one small Chroma read), in seconds; it reloads only when something changed. 0 checks on every question.",
    )
    exact_filtered_search: bool = Field(
        default=True,
        description="Search filtered questions (the widget's article scope, tags, dates) exactly over chunk vectors "
        "held in memory (4 bytes a dimension a chunk: 150 MB at 100k chunks of 384 dimensions, read from Chroma "
        "once per index version) instead of with Chroma's filtered query, which costs hundreds of ms at 100k chunks; "
        "score fusion then reads the cosines of lexical-only candidates from the same vectors.",
    )


class StoreSettings(_Section):
    """`[store]`: which Chroma holds the vectors."""

    mode: Literal["embedded", "server"] = Field(
        default="embedded",
        description="`embedded`: a Chroma database in `index.dir`, inside this process. `server`: a `chroma run` "
        "server at `store.host`:`store.port`.",
    )
    host: str = Field(default="127.0.0.1", description="Host name or address of the Chroma server (`server` mode).")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port of the Chroma server (`server` mode).")
    ssl: bool = Field(default=False, description="Reach the Chroma server over HTTPS (`server` mode).")
    timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Timeout of each request to the Chroma server (`server` mode), in seconds: a server that "
        "does not answer in time gives a clear error instead of blocking the request; the next request tries again.",
    )
    lease_s: float = Field(
        default=30.0,
        ge=2,
        le=3600,
        description="`server` mode: how long the ingest lease (one ingest or sync at a time across every process "
        "sharing the server) lasts without renewal, in seconds. The holder renews it every third of this; a holder "
        "that died frees it after this long. Expiry is judged by the Chroma server's clock, so the app hosts' clocks need "
        "not agree.",
    )


class EmbeddingSettings(_Section):
    """`[embeddings]`: the model that turns chunks and questions into vectors."""

    backend: Literal["local", "openai-compatible"] = Field(
        default="local",
        description="`local`: the packaged MiniLM int8 ONNX model, run in this process. `openai-compatible`: an "
        "embeddings server speaking the OpenAI protocol at `embeddings.base_url`. Changing the model requires "
        "`hubchat ingest --rebuild`.",
    )
    model: str = Field(
        default="all-MiniLM-L6-v2-int8",
        description="`openai-compatible` only: the embeddings model name requested from the server. `local` always "
        "uses the packaged model.",
    )
    base_url: str = Field(
        default="",
        description="`openai-compatible` only: the server's address, an http:// or https:// URL such as "
        "`http://127.0.0.1:8000/v1`. Required for that backend.",
    )
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="`openai-compatible` only: the name of the environment variable holding the API key (keys never "
        "live in files). The key may be unset when the server is on this machine.",
    )
    threads: int = Field(default=2, ge=1, le=64, description="`local` only: CPU threads the ONNX model uses.")
    batch_size: int = Field(
        default=32,
        ge=1,
        le=1024,
        description="Texts embedded per call: one ONNX batch (`local`) or one request (`openai-compatible`).",
    )
    # MiniLM was trained on 256-token inputs, and its int8 export is checked against the reference at that length.
    # 512 lets it read the tail of the longest chunks for a small gain on SciFact (hybrid nDCG@10 0.738 against
    # 0.733, benchmarks/RESULTS.md); the default stays at the model's own length.
    max_tokens: int = Field(
        default=256,
        ge=16,
        le=512,
        description="`local` only: longest text embedded, in model tokens; longer texts are truncated. Changing it "
        "re-embeds every article on the next ingest.",
    )
    timeout_s: float = Field(
        default=60.0, gt=0, description="`openai-compatible` only: timeout of one embeddings request, in seconds."
    )


class ChatSettings(_Section):
    """`[chat]`: the model that writes the answers."""

    backend: Literal["local", "openai", "openai-compatible", "extractive"] = Field(
        default="local",
        description="`local`: a GGUF model served in this process by llama.cpp. `openai`: OpenAI's API. "
        "`openai-compatible`: any server speaking the OpenAI protocol (vLLM, Ollama, LM Studio, llama.cpp) at "
        "`chat.base_url`. `extractive`: no model; the answer is composed of the passages' best sentences.",
    )
    model: str = Field(
        default="qwen2.5-coder-1.5b-instruct-q4_k_m",
        description="Model name sent to the server. For `local`, the packaged model to serve: "
        "`qwen2.5-coder-1.5b-instruct-q4_k_m` (extra `model`) or `qwen2.5-coder-0.5b-instruct-q4_k_m` (extra "
        "`model-fast`, the `fast` profile: about twice the prompt speed, weaker answers); any other name is an "
        "error. With `chat.model_path` set it is only a label.",
    )
    base_url: str = Field(
        default="",
        description="Server address ending in `/v1`: optional for `openai` (default `https://api.openai.com/v1`), "
        "required for `openai-compatible`.",
    )
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="The name of the environment variable holding the API key (keys never live in files). Required "
        "for `openai`; for `openai-compatible` only when the server is not on this machine.",
    )
    timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Timeout of one chat request, and of the wait between two streamed pieces of an answer, in seconds.",
    )
    max_retries: int = Field(
        default=2, ge=0, le=10, description="Retries of a failed chat request (connection error, timeout, rate limit, server error) "
        "before the failure is reported.",
    )
    temperature: float = Field(
        default=0.1,
        ge=0.0,
        le=2.0,
        description="Sampling temperature: 0 picks the likeliest words, higher values vary the wording more.",
    )
    max_tokens: int = Field(default=400, ge=16, le=8192, description="Longest answer the model may write, in tokens.")
    model_path: Path | None = Field(
        default=None,
        description="`local` only: a GGUF file to serve instead of a packaged model (the tests use SmolLM2). "
        "Unset: the packaged model `chat.model` names.",
    )
    model_cache_dir: Path = Field(
        default=Path(".hubchat/models"),
        description="`local` only: folder where the packaged model is assembled from its parts on first use "
        "(about 1.1 GB for the default, 0.5 GB for the `fast` profile's).",
    )
    n_ctx: int = Field(
        default=4096,
        ge=512,
        le=131072,
        description="`local` only: context size of each parallel slot, in tokens; it must hold the prompt, the "
        "passages and the answer.",
    )
    threads: int = Field(default=2, ge=1, le=64, description="`local` only: CPU threads of the llama.cpp server.")
    parallel: int = Field(
        default=2,
        ge=1,
        le=16,
        description="`local` only: requests the llama.cpp server works on at once (slots); memory grows with "
        "`n_ctx` x `parallel`. With `pin_slots`, slot 0 writes answers and slot 1 everything else.",
    )
    pin_slots: bool = Field(
        default=True,
        description="`local` only: answers always use slot 0, follow-up rewrites slot 1, so a rewrite never "
        "evicts the answers' cached rules and every answer reads only its own excerpts. Answers then queue one "
        "after another (on two cores they would share the CPU anyway); turn it off to answer several at once "
        "with `parallel` above 2. Needs `parallel` >= 2.",
    )
    startup_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="`local` only: how long to wait for the llama.cpp server to load the model and report ready, "
        "in seconds.",
    )
    prompt_cache_mib: int = Field(
        default=512,
        ge=0,
        le=65536,
        description="`local` only: host memory for llama.cpp's prompt cache, in MiB: a prompt a slot moved on from "
        "is kept there, and a later prompt that starts alike can be restored from it instead of read again; 0 "
        "turns it off.",
    )

    @model_validator(mode="after")
    def _slots_to_pin(self) -> ChatSettings:
        if self.backend == "local" and self.pin_slots and self.parallel < 2:
            raise ValueError("chat.pin_slots needs chat.parallel >= 2 (one slot for answers, one for rewrites)")
        return self


class ChunkingSettings(_Section):
    """`[chunking]`: how articles are cut into passages, in tokens of the embedding model's tokenizer."""

    target_tokens: int = Field(
        default=220,
        ge=32,
        le=512,
        description="Size a chunk is filled up to; a new section starts a new chunk once the current one has half "
        "of this. At most `max_tokens`.",
    )
    max_tokens: int = Field(
        default=300,
        ge=32,
        le=512,
        description="Largest chunk, overlap included; only a single sentence longer than this makes a longer chunk.",
    )
    overlap_tokens: int = Field(
        default=40,
        ge=0,
        le=256,
        description="Whole trailing sentences, up to this many tokens, repeated at the start of the next chunk. "
        "Below `target_tokens`.",
    )

    @model_validator(mode="after")
    def _sizes_make_sense(self) -> ChunkingSettings:
        if self.target_tokens > self.max_tokens:
            raise ValueError(f"target_tokens ({self.target_tokens}) must not exceed max_tokens ({self.max_tokens})")
        if self.overlap_tokens >= self.target_tokens:
            raise ValueError(f"overlap_tokens ({self.overlap_tokens}) must be below target_tokens ({self.target_tokens})")
        return self


class RetrievalSettings(_Section):
    """`[retrieval]`: how passages are found for a question, and when a question is refused."""

    dense_k: int = Field(default=60, ge=1, le=1000, description="Candidates taken from the vector (dense) search.")
    lexical_k: int = Field(default=60, ge=1, le=1000, description="Candidates taken from the BM25 (lexical) search.")
    rrf_k: int = Field(
        default=60,
        ge=1,
        description="`fusion = \"rrf\"` only: the reciprocal-rank constant; larger values flatten the difference "
        "between high and low ranks.",
    )
    dense_weight: float = Field(
        default=1.0, ge=0.0, description="Weight of the dense search in the fusion; 0 turns the dense search off."
    )
    lexical_weight: float = Field(
        default=1.0, ge=0.0, description="Weight of the BM25 search in the fusion; 0 turns the BM25 search off."
    )
    top_k: int = Field(default=5, ge=1, le=50, description="Passages retrieved for one question.")
    prompt_token_budget: int = Field(
        default=240,
        ge=0,
        description="Most tokens of passage text the chat model reads for one question (counted with the embedding "
        "model's tokenizer, close to a chat model's for English). Only the passages' sentences that bear most on "
        "the question are shown, and a passage with none of them is left out; 0 shows the top passages whole.",
    )
    per_article_cap: int = Field(
        default=2, ge=1, le=50, description="Most passages shown from any one article."
    )
    fusion: Literal["scores", "rrf"] = Field(
        default="scores",
        description="`scores`: weighted mean of per-query min-max normalised cosine and BM25 scores (best on "
        "SciFact). `rrf`: weighted reciprocal-rank fusion with `retrieval.rrf_k`.",
    )
    correct_spelling: bool = Field(
        default=True,
        description="Search a misspelt question word as the indexed word one edit away (two for words of 8+ "
        "letters), so a typo in the subject does not sink the question under the relevance floor. Only words no "
        "chunk contains are changed, never names with digits or inner capitals; the answer notes what was searched.",
    )
    min_dense_score: float = Field(
        default=0.42,
        ge=-1.0,
        le=1.0,
        description="Relevance floor, dense half: a question is refused, without calling a model, when its best "
        "passage's cosine similarity is below this and no BM25 candidate reaches `retrieval.min_lexical_coverage`.",
    )
    quote_when_refused: float = Field(
        default=0.55,
        ge=0.0,
        le=1.01,
        description="When the model refuses although the best passage's cosine similarity reaches this, the reader "
        "gets the passages' sentences closest to the question instead, quoted, cited and labelled as quotes "
        "(the `extractive` composer); above 1 never.",
    )
    min_lexical_coverage: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Relevance floor, lexical half: the share of the question's IDF-weighted terms one BM25 "
        "candidate must hold for the question to count as covered.",
    )
    max_question_chars: int = Field(
        default=2000,
        ge=10,
        description="Longest question accepted, in characters; longer ones are rejected with a message. A "
        "rewritten follow-up that runs over is searched by its first this-many characters.",
    )
    demote_wrong_citations: bool = Field(
        default=True,
        description="Demote a passage for a question when editors judged it \"wrong citation\" for at least "
        "`retrieval.demotion_min_verdicts` similar questions (the verdicts in the records; the desk lists the "
        "demotions in force and lifts them). false: rank as if no verdict existed.",
    )
    demotion_min_verdicts: int = Field(
        default=2,
        ge=1,
        description="Answers whose questions are within `retrieval.demotion_similarity` of a new question, each with "
        "a \"wrong citation\" verdict on a passage, that it takes to demote that passage for the question.",
    )
    demotion_similarity: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        description="Cosine similarity (of the questions' embeddings) at which a judged question counts as like the "
        "new one.",
    )
    demotion_factor: float = Field(
        default=0.25,
        ge=0.0,
        le=1.0,
        description="A demoted passage's fused score is multiplied by this; 0 puts it after every other candidate. "
        "Score fusion gives the best candidate 1 and close seconds 0.4 to 0.7, so 0.25 moves a demoted first below them.",
    )
    demotion_refresh_s: float = Field(
        default=10.0,
        ge=0.0,
        description="How often, in seconds, a serving process asks the records whether verdicts changed (one small "
        "query), reloading them only when they did; 0 asks on every question.",
    )


class UISettings(_Section):
    """`[ui]`: the web app (chat, API and editors' review)."""

    host: str = Field(default="127.0.0.1", description="Address the web app listens on.")
    port: int = Field(default=7860, ge=1, le=65535, description="TCP port the web app listens on.")
    concurrency_limit: int = Field(
        default=2, ge=1, le=64, description="Answers generated at once; the chat page and the API share this limit."
    )
    max_queue: int = Field(
        default=64, ge=1, description="Requests that may wait for a free slot; beyond this, new ones are turned away."
    )
    db_path: Path = Field(
        default=Path(".hubchat/hubchat.sqlite"),
        description="SQLite file recording every answer, readers' feedback and editors' verdicts (unless "
        "`ui.records_url` names a database server instead).",
    )
    records_url: str = Field(
        default="",
        description="Empty: the records live in the SQLite file `ui.db_path`. Otherwise the SQLAlchemy URL of a "
        "PostgreSQL database shared by several app processes, such as "
        "`postgresql+psycopg://hubchat@127.0.0.1:5432/hubchat` (extra `postgres`). Keep the password out of files: "
        "libpq reads it from `PGPASSWORD` or `~/.pgpass`, or give the whole URL in `HUBCHAT_UI__RECORDS_URL`. "
        "Logs and errors show the URL with the password hidden. The schema is migrated on start.",
    )
    records_connect_timeout_s: int = Field(
        default=5,
        ge=2,
        le=300,
        description="`ui.records_url` only: how long to wait for the database server to accept a connection, in "
        "seconds; a server that is down gives a clear error after this long instead of a hanging request.",
    )
    editor_user_env: str = Field(
        default="HUBCHAT_EDITOR_USER",
        description="The name of the environment variable holding the editors' user name for `/review/` (the login "
        "never lives in files). While it or the password variable is unset, the review page is disabled.",
    )
    editor_password_env: str = Field(
        default="HUBCHAT_EDITOR_PASSWORD",
        description="The name of the environment variable holding the editors' password for `/review/`.",
    )
    api_key_env: str = Field(
        default="HUBCHAT_API_KEY",
        description="The name of the environment variable holding the key of the OpenAI-compatible API at `/v1` "
        "(sent as `Authorization: Bearer KEY`). Unset: the API is open while `ui.host` is a loopback address, and "
        "refuses every request on any other address.",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed editor logins in a row from one client address before it is locked out; during a "
        "lockout every login from it is refused, the right password too.",
    )
    login_lockout_s: float = Field(
        default=30.0,
        gt=0,
        description="First lockout after `ui.login_max_failures` failures, in seconds; each further failure "
        "doubles it, up to 15 minutes. A successful login clears the count.",
    )
    export_max_age_s: int = Field(
        default=3600,
        ge=1,
        description="How long a conversation exported as Markdown stays on the server, in seconds: older export "
        "files are deleted (hubchat's own copy and Gradio's cached one), so exports never pile up.",
    )
    embed_origins: tuple[str, ...] = Field(
        default=(),
        description="Origins (`https://site.example`, scheme and host, and a port if not the default) of the sites "
        "whose pages may embed the chat widget (`/widget/`) in a frame and call its API from their scripts. Empty: "
        "no other site may; the app's own pages still can. No page of the app may be framed by any other origin.",
    )

    @model_validator(mode="after")
    def _origins_are_origins(self) -> UISettings:
        for origin in self.embed_origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"ui.embed_origins: {origin!r} is not an origin; write it as scheme://host[:port], with no path "
                    "or trailing slash, e.g. https://aitoolshub.example"
                )
        return self

    @model_validator(mode="after")
    def _records_url_is_a_url(self) -> UISettings:
        if self.records_url and "://" not in self.records_url:
            raise ValueError(
                "ui.records_url must be an SQLAlchemy URL such as postgresql+psycopg://USER@HOST:5432/DB, or empty "
                "for the SQLite file ui.db_path"
            )
        return self


class EvalSettings(_Section):
    """`[eval]`: `hubchat eval`: where evaluation sets keep their own indexes and where results go."""

    cache_dir: Path = Field(
        default=Path(".hubchat/eval"),
        description="Folder of the evaluation sets' own indexes (one per set, updated when the set's corpus "
        "changes) and of the LangChain baseline's index. Deleting it only costs re-embedding.",
    )
    results_dir: Path = Field(
        default=Path(".hubchat/eval/results"),
        description="Folder that receives one results folder per `hubchat eval` run (JSON records, a Markdown "
        "summary and PNG charts), unless `--out` names another.",
    )
    checker_pairs: int = Field(
        default=300,
        ge=0,
        description="SciFact claims whose labelled pairs (supporting, contradicting, unrelated and altered) test "
        "the citation checker in a run over a SciFact-style folder; 0 skips that part.",
    )


class Settings(BaseSettings):
    """Every setting of hubchat, grouped by pipeline stage.

    Build it with `load_settings`, which reads the config file and profile; `Settings()` alone gives the built-in
    defaults overlaid by the environment.
    """

    model_config = SettingsConfigDict(
        env_prefix="HUBCHAT_", env_nested_delimiter="__", extra="forbid", frozen=True, nested_model_default_partial_update=True
    )

    corpus: CorpusSettings = CorpusSettings()
    site: SiteSettings = SiteSettings()
    index: IndexSettings = IndexSettings()
    store: StoreSettings = StoreSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    chat: ChatSettings = ChatSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    ui: UISettings = UISettings()
    eval: EvalSettings = EvalSettings()
    config_file: Path | None = Field(
        default=None, description="Set by `load_settings`: the config file these settings were read from, if any."
    )
    profile: str | None = Field(
        default=None, description="Set by `load_settings`: the profile overlaid on the file, if any."
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
        # Environment beats the file: the file's values arrive as init kwargs, so env must come first.
        return (_EnvironmentWithoutProvenance(settings_cls, env_settings), init_settings)


class _EnvironmentWithoutProvenance(PydanticBaseSettingsSource):
    """The HUBCHAT_* environment, except `config_file` and `profile`, which only the loader may set.

    Read from the environment, HUBCHAT_PROFILE would name a profile even when `--profile` chose another one, and
    HUBCHAT_CONFIG_FILE a file that was never read.
    """

    _LOADER_FIELDS = frozenset({"config_file", "profile"})

    def __init__(self, settings_cls: type[BaseSettings], environment: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self._environment = environment

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._environment.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return {key: value for key, value in self._environment().items() if key not in self._LOADER_FIELDS}


SECTIONS: tuple[str, ...] = tuple(
    name for name, field in Settings.model_fields.items() if isinstance(field.annotation, type) and issubclass(field.annotation, _Section)
)
"""The names of the settings sections (`corpus`, `index`, ...), in the order they are declared."""


def _deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resolve_paths(data: dict[str, Any], root: Path) -> dict[str, Any]:
    """Make the file's relative paths relative to the file's folder."""
    path_keys = {("corpus", "path"), ("index", "dir"), ("chat", "model_path"), ("chat", "model_cache_dir"), ("ui", "db_path"), ("eval", "cache_dir"), ("eval", "results_dir")}
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for section, key in path_keys:
        block = out.setdefault(section, {})
        if not isinstance(block, dict):
            continue  # validation reports the malformed section
        # Paths the file leaves at their defaults belong beside the file too, not in the working directory.
        value = block.get(key, Settings.model_fields[section].default.__dict__.get(key))
        if isinstance(value, (str, Path)) and str(value) and not Path(value).is_absolute():
            block[key] = str(root / value)
    return out


def _format_error(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(root)"
        value = e.get("input")
        env_name = "HUBCHAT_" + "__".join(str(p) for p in e["loc"]).upper()
        where = env_name if env_name in os.environ else source
        if e["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key '{key}'")
        elif isinstance(value, dict):
            lines.append(f"{where}: {key}: {e['msg']}")
        else:
            lines.append(f"{where}: {key} = {value!r} is not valid: {e['msg']}")
    return "; ".join(lines)


def find_config_file(explicit: str | Path | None = None) -> Path | None:
    """The config file to read: the explicit one, $HUBCHAT_CONFIG, or ./hubchat.toml if it exists."""
    candidate = explicit or os.environ.get("HUBCHAT_CONFIG")
    if candidate:
        path = Path(candidate)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path.resolve()
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return default.resolve() if default.is_file() else None


def load_settings(config_file: str | Path | None = None, profile: str | None = None, **overrides: Any) -> Settings:
    """Load settings from the config file, the chosen profile and the environment.

    Args:
        config_file: path of a TOML file; default $HUBCHAT_CONFIG or ./hubchat.toml (built-in defaults if neither).
        profile: name of a `[profiles.NAME]` section to overlay; default $HUBCHAT_PROFILE.
        overrides: section dicts applied on top of the file and profile (still below the environment).

    Returns:
        The frozen Settings.

    Raises:
        ConfigError: one line naming the bad key, its value and what is valid.
    """
    path = find_config_file(config_file)
    data: dict[str, Any] = {}
    source = str(path.name) if path else "settings"
    if path:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path.name}: cannot parse: {exc}") from exc
    profiles = data.pop("profiles", {})
    profile = profile or os.environ.get("HUBCHAT_PROFILE") or None
    if profile:
        if profile not in profiles:
            valid = ", ".join(sorted(profiles)) or "(none defined)"
            raise ConfigError(f"{source}: unknown profile {profile!r}; valid profiles: {valid}")
        data = _deep_merge(data, profiles[profile])
    data = _deep_merge(data, overrides)
    if path:
        data = _resolve_paths(data, path.parent)
    try:
        return Settings(**data, config_file=path, profile=profile)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, source)) from None


def profile_names(config_file: str | Path | None = None) -> list[str]:
    """The profiles the config file defines, sorted; none without a config file."""
    path = find_config_file(config_file)
    if not path:
        return []
    return sorted(tomllib.loads(path.read_text(encoding="utf-8")).get("profiles", {}))
