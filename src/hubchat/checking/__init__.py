"""Checking: an answer's [n] citations judged against the passages shown, deterministically (no LLM).

- `citations`: markers parsed and validated, sentences scored, markers that add nothing pruned, the verdict.
- `support`: how well a passage span supports a claim (terms, figures, names, embedding similarity).
- `figures`: numbers with their unit, currency and scale, and dates, as comparable values.
- `names`: the names a claim states and the keys a passage offers for them.
- `repeats`: sentences written twice, and a generation caught in a loop.
- `attribution`: citations added to uncited facts that a shown passage clearly supports.

May import only: hubchat.types and hubchat.text. An embedder comes in as a plain callable.
"""
