"""Evaluation (`hubchat eval`): how well hubchat retrieves, answers, cites and refuses, and how fast, next to
baselines, on a BEIR-style folder or the project's gold question set.

Modules, in the order a run uses them:

- `datasets`: BEIR folders and gold JSONL files as typed cases.
- `set_index`: each set's own index (a BEIR corpus written out as Markdown and ingested by the product's pipeline).
- `retrieval_eval`: BM25-only, dense-only and hybrid rankings, scored with ir_measures and cross-checked
  against `metrics` (hand-written nDCG / recall / MRR).
- `systems`: the answer systems behind one protocol (hubchat's chain and its retrieval variants);
  `baseline`: the plain LangChain recipe.
- `runner`: every system on every question, one record each (a failure is a record too).
- `answer_metrics`: per-answer measures (SQuAD EM/F1, containment, key facts, citation precision/recall, refusals).
- `summary`: per-system figures; `report`: the results folder (JSON, Markdown, PNG charts); `machine`: the
  machine line.
- `checker_pairs`: the citation checker itself on labelled SciFact pairs.
- `harness`: the whole run.

May import: anything in hubchat except web and cli (it sits above runtime: it builds runtimes for its sets).
"""
