"""The answer systems an evaluation can compare, by name (light to import: the command line lists them)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Variants of hubchat's chain, as overrides of its `retrieval` settings: one of the two searches switched off, or
# the whole top passages in the prompt instead of the budgeted excerpts.
VARIANTS: Mapping[str, Mapping[str, object]] = MappingProxyType({
    "hubchat": {},
    "hubchat-bm25": {"dense_weight": 0.0},
    "hubchat-dense": {"lexical_weight": 0.0},
    "hubchat-full": {"prompt_token_budget": 0},
})
BASELINE = "langchain-baseline"
SYSTEMS = (*VARIANTS, BASELINE)
# What a run compares unless told otherwise: the retrieval variants and the recipe.
DEFAULT_SYSTEMS = ("hubchat", "hubchat-bm25", "hubchat-dense", BASELINE)
