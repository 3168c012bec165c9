"""The one typed settings object.

Values come, lowest priority first, from: the built-in defaults, `hubchat.toml`, the named profile section of
that file (`[profiles.NAME]`, chosen with `--profile NAME` or `HUBCHAT_PROFILE`), then `HUBCHAT_*` environment
variables (nested keys joined with `__`, e.g. `HUBCHAT_CHAT__BACKEND=extractive`).

Relative paths are resolved against the folder holding the config file, so the app behaves the same from any
working directory.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from hubchat.errors import ConfigError

DEFAULT_CONFIG_NAME = "hubchat.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CorpusSettings(_Section):
    path: Path = Path("corpus")
    # Where article urls (site paths such as /guides/x) point to when shown as links.
    site_url: str = "https://aitoolshub.example"
    max_file_bytes: int = Field(default=2_000_000, gt=0)


class IndexSettings(_Section):
    dir: Path = Path(".hubchat/index")
    collection: str = Field(default="hubchat-articles", min_length=3, max_length=512)


class StoreSettings(_Section):
    mode: Literal["embedded", "server"] = "embedded"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    ssl: bool = False
    timeout_s: float = Field(default=30.0, gt=0)


class EmbeddingSettings(_Section):
    backend: Literal["local", "openai-compatible"] = "local"
    # For "openai-compatible": the embeddings model name served at base_url.
    model: str = "all-MiniLM-L6-v2-int8"
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    threads: int = Field(default=2, ge=1, le=64)
    batch_size: int = Field(default=32, ge=1, le=1024)
    # MiniLM was trained on 256-token inputs, and its int8 export is checked against the reference at that length.
    # 512 lets it read the tail of the longest chunks for a small gain on SciFact (hybrid nDCG@10 0.738 against
    # 0.733, benchmarks/RESULTS.md); the default stays at the model's own length.
    max_tokens: int = Field(default=256, ge=16, le=512)
    timeout_s: float = Field(default=60.0, gt=0)


class ChatSettings(_Section):
    backend: Literal["local", "openai", "openai-compatible", "extractive"] = "local"
    # Model name sent to the server; for "local" it is only a label.
    model: str = "qwen2.5-coder-1.5b-instruct-q4_k_m"
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    max_tokens: int = Field(default=400, ge=16, le=8192)
    # "local" only: a GGUF file to serve instead of the packaged default model (tests use SmolLM2).
    model_path: Path | None = None
    model_cache_dir: Path = Path(".hubchat/models")
    n_ctx: int = Field(default=4096, ge=512, le=131072)
    threads: int = Field(default=2, ge=1, le=64)
    parallel: int = Field(default=1, ge=1, le=16)
    startup_timeout_s: float = Field(default=120.0, gt=0)


class ChunkingSettings(_Section):
    target_tokens: int = Field(default=220, ge=32, le=512)
    max_tokens: int = Field(default=300, ge=32, le=512)
    overlap_tokens: int = Field(default=40, ge=0, le=256)

    @model_validator(mode="after")
    def _sizes_make_sense(self) -> "ChunkingSettings":
        if self.target_tokens > self.max_tokens:
            raise ValueError(f"target_tokens ({self.target_tokens}) must not exceed max_tokens ({self.max_tokens})")
        if self.overlap_tokens >= self.target_tokens:
            raise ValueError(f"overlap_tokens ({self.overlap_tokens}) must be below target_tokens ({self.target_tokens})")
        return self


class RetrievalSettings(_Section):
    dense_k: int = Field(default=60, ge=1, le=1000)
    lexical_k: int = Field(default=60, ge=1, le=1000)
    rrf_k: int = Field(default=60, ge=1)
    dense_weight: float = Field(default=1.0, ge=0.0)
    lexical_weight: float = Field(default=1.0, ge=0.0)
    top_k: int = Field(default=5, ge=1, le=50)
    per_article_cap: int = Field(default=2, ge=1, le=50)
    # "scores": weighted mean of per-query min-max normalised cosine and BM25 scores (best on SciFact);
    # "rrf": weighted reciprocal-rank fusion with rrf_k.
    fusion: Literal["scores", "rrf"] = "scores"
    # The relevance floor: a question is refused, without calling a model, when its best passage's cosine is
    # below min_dense_score and no lexical candidate holds min_lexical_coverage of its IDF-weighted terms.
    min_dense_score: float = Field(default=0.42, ge=-1.0, le=1.0)
    min_lexical_coverage: float = Field(default=0.6, ge=0.0, le=1.0)
    max_question_chars: int = Field(default=2000, ge=10)


class UISettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=7860, ge=1, le=65535)
    concurrency_limit: int = Field(default=2, ge=1, le=64)
    max_queue: int = Field(default=64, ge=1)
    db_path: Path = Path(".hubchat/hubchat.sqlite")
    # Names of the environment variables holding the editors' login; the values never live in files.
    editor_user_env: str = "HUBCHAT_EDITOR_USER"
    editor_password_env: str = "HUBCHAT_EDITOR_PASSWORD"


class Settings(BaseSettings):
    """Every setting of hubchat, grouped by pipeline stage."""

    model_config = SettingsConfigDict(
        env_prefix="HUBCHAT_", env_nested_delimiter="__", extra="forbid", frozen=True, nested_model_default_partial_update=True
    )

    corpus: CorpusSettings = CorpusSettings()
    index: IndexSettings = IndexSettings()
    store: StoreSettings = StoreSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    chat: ChatSettings = ChatSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    ui: UISettings = UISettings()
    # Set by the loader: which file and profile these settings came from (for `hubchat status` and logs).
    config_file: Path | None = None
    profile: str | None = None

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
        return (env_settings, init_settings)

    def api_key(self, env_name: str) -> SecretStr | None:
        value = os.environ.get(env_name)
        return SecretStr(value) if value else None


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
    path_keys = {("corpus", "path"), ("index", "dir"), ("chat", "model_path"), ("chat", "model_cache_dir"), ("ui", "db_path")}
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
    path = find_config_file(config_file)
    if not path:
        return []
    return sorted(tomllib.loads(path.read_text(encoding="utf-8")).get("profiles", {}))
