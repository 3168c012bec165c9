"""Evaluation: measures of retrieval and answer quality, for the benchmarks and tests.

Modules: metrics (nDCG@k, recall@k).

May import: anything in hubchat except web and cli.
"""
