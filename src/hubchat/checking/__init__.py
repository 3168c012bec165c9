"""Checking: an answer's [n] citations judged against the passages shown, deterministically (no LLM).

- `citations`: markers parsed and validated, sentences scored, the answer's verdict.
- `support`: how well a passage span supports a claim (terms, numbers, names, embedding similarity).
- `attribution`: citations added to uncited facts that a shown passage clearly supports.

May import only: hubchat.types and hubchat.text. An embedder comes in as a plain callable.
"""
