"""The citation checker measured on labelled SciFact claim/evidence pairs: the swaps that make negatives, the pairs
built from the real data, and the real checker (with the real local embedder) rating them.

The SciFact folder comes from tests/eval_data.py ($HUBCHAT_EVAL_DATA, else ../shared/data beside the repository).
"""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from hubchat.answer.embed_cache import CachedEmbedder
from hubchat.config import EmbeddingSettings
from hubchat.eval.checker_pairs import (
    KINDS,
    confusion,
    entities,
    load_scifact_pairs,
    rate_pairs,
    supported_precision,
    supported_recall,
    swap_entity,
    swap_number,
    swap_unit,
)
from hubchat.index.embedder import build_embeddings
from tests.eval_data import eval_set_dir

VERDICTS = {"supported", "weak", "unsupported", "uncited", "not_a_claim"}



def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]+", text)


def _figures(text: str) -> list[str]:
    return re.findall(r"\d+(?:,\d{3})*", text)


# ---- swaps -----------------------------------------------------------------------------------------------------


def test_a_number_swap_changes_one_figure_and_nothing_else():
    claim = "Mortality fell by 5% among 1,000 patients."
    evidence = "Among 1,000 patients, mortality fell by 5%."
    for seed in range(20):
        swapped = swap_number(claim, random.Random(seed), evidence)
        assert swapped is not None and swapped != claim
        assert _words(swapped) == _words(claim)
        before, after = _figures(claim), _figures(swapped)
        assert len(after) == 2 and sum(a != b for a, b in zip(before, after)) == 1
        assert not (set(after) - set(before)) & set(_figures(evidence))  # the new figure is not one the evidence states


def test_a_number_swap_is_deterministic_for_a_seed():
    claim = "Incidence of heart failure decreased by 10% in women since 1979."
    assert swap_number(claim, random.Random(3)) == swap_number(claim, random.Random(3))


def test_a_claim_without_figures_yields_no_number_swap():
    assert swap_number("Aspirin lowers the risk of stroke.", random.Random(0)) is None
    # Digits inside names are not figures.
    assert swap_number("IL-6 binds ADAR1 and 3-kinase.", random.Random(0)) is None


def test_a_unit_swap_changes_the_unit_and_keeps_the_number():
    claim = "Patients took 40 mg daily for 6 weeks."
    for seed in range(10):
        swapped = swap_unit(claim, random.Random(seed), "They took 40 mg a day for 6 weeks.")
        assert swapped is not None
        assert re.findall(r"\d+", swapped) == ["40", "6"]
        assert swapped in {claim.replace(" mg", f" {u}") for u in ("g", "kg", "µg", "ng")} | {
            claim.replace("weeks", u) for u in ("seconds", "minutes", "hours", "days", "months", "years")
        }


def test_a_percentage_becomes_a_fold_change_not_a_synonym():
    assert swap_unit("Incidence fell by 10% since 1979.", random.Random(0)) == "Incidence fell by 10-fold since 1979."


def test_a_claim_without_units_yields_no_unit_swap():
    assert swap_unit("Five patients relapsed.", random.Random(0)) is None
    assert swap_unit("Aspirin lowers the risk of stroke.", random.Random(0)) is None


def test_an_entity_swap_replaces_a_named_entity_with_a_donor_of_its_shape():
    claim = "ADAR1 binds to Dicer to cleave pre-miRNA."
    donors = ["PTEN", "Drosha", "ADAR1", "Nanog"]
    outcomes = {swap_entity(claim, donors, random.Random(seed), evidence="Nanog is absent.") for seed in range(40)}
    # Never a donor the claim or the evidence already names; a symbol for a symbol, a name for a name.
    assert outcomes == {
        "PTEN binds to Dicer to cleave pre-miRNA.",
        "ADAR1 binds to Drosha to cleave pre-miRNA.",
        "ADAR1 binds to Dicer to cleave PTEN.",
    }


def test_entities_are_symbols_anywhere_and_capitalised_words_after_the_first():
    assert entities("Aspirin inhibits mTOR and IL-6 in Dicer knockouts") == ["mTOR", "IL-6", "Dicer"]
    assert swap_entity("aspirin lowers the risk of stroke.", ["PTEN"], random.Random(0)) is None


# ---- the real data and the real checker ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def all_pairs():
    return load_scifact_pairs(eval_set_dir("scifact"))


def test_every_kind_of_pair_is_built_from_scifact(all_pairs):
    kinds = Counter(p.kind for p in all_pairs)
    assert set(kinds) == set(KINDS), kinds
    supports = {(p.claim, p.doc_id): p for p in all_pairs if p.kind == "support"}
    for p in all_pairs:
        assert p.claim and p.evidence and p.doc_id and p.title
        assert p.expected == ("supported" if p.kind == "support" else "not_supported")
        if p.kind.startswith("swapped_"):
            # A swap alters the claim of a SUPPORT pair and keeps that pair's evidence.
            assert p.claim != p.original and supports[(p.original, p.doc_id)].evidence == p.evidence
        if p.kind == "same_abstract_other":
            assert p.evidence not in {q.evidence for q in all_pairs if q.doc_id == p.doc_id and q.kind in ("support", "contradict")}


def test_a_sample_is_fixed_by_its_seed_and_limits_the_claims(all_pairs):
    sample = load_scifact_pairs(eval_set_dir("scifact"), seed=0, limit=40)
    assert sample == load_scifact_pairs(eval_set_dir("scifact"), seed=0, limit=40)
    assert len({p.claim for p in sample if p.kind in ("support", "contradict")}) <= 40
    assert set(sample) <= set(all_pairs)  # a claim's pairs do not depend on the sample around it


def test_the_checker_rates_support_pairs_supported_more_often_than_other_sentences_of_the_abstract():
    pairs = load_scifact_pairs(eval_set_dir("scifact"), seed=0, limit=40)
    ratings = rate_pairs(pairs, CachedEmbedder(build_embeddings(EmbeddingSettings())))
    assert [r.pair for r in ratings] == pairs
    assert all(r.verdict in VERDICTS and 0.0 <= r.score <= 1.0 for r in ratings)
    table = confusion(ratings)
    assert {"support", "contradict", "same_abstract_other"} <= set(table)
    assert sum(sum(row.values()) for row in table.values()) == len(pairs)

    def supported_share(kind: str) -> float:
        row = table[kind]
        return row.get("supported", 0) / sum(row.values())

    assert supported_share("support") > supported_share("same_abstract_other"), table
    precision, recall = supported_precision(ratings), supported_recall(ratings)
    assert recall is not None and 0.0 <= recall <= 1.0
    assert precision is None or 0.0 <= precision <= 1.0
