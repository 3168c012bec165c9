"""The retrieval stage: dense and lexical candidates from the index, fused, capped per article, and the
relevance floor deciding whether the corpus covers a question; also the model-free follow-up rewrite.

Modules: hybrid (HybridRetriever), fusion (rank and score fusion, the per-article cap), demotion (passages
editors judged wrongly cited for similar questions, ranked lower; the verdicts come through a Protocol the
runtime fills from the records), condense (condense_heuristic, is_followup).

May import: hubchat.index, types, config, errors.
"""
