"""Figures and names: what a claim states that its passage must state too, compared by value, unit, currency and
scale (figures) or by key (names)."""

from __future__ import annotations

import pytest

from hubchat.checking.figures import figures, supports, unmatched
from hubchat.checking.names import name_keys, names
from hubchat.checking.support import STOP_WORDS


def _supported(evidence: str, claim: str) -> bool:
    claimed = figures(claim)
    assert claimed, f"no figure read in {claim!r}"
    return not unmatched(claimed, figures(evidence, lone_words=True))


# (passage text, claim text): the passage's figure states the claim's.
MUST_SUPPORT = [
    ("Norway is adding 2 PB of all-flash capacity.", "It buys 2 petabytes."),
    ("The API costs $0.15 per call.", "Each call costs 15 cents."),
    ("Each call costs 15 cents.", "The API costs $0.15 per call."),
    ("Usage grew 40% last year.", "Usage grew 40 percent."),
    ("Usage grew 40 per cent.", "Usage grew 40%."),
    ("It has 1,500,000 users.", "It has 1.5 million users."),
    ("It has 1.5 million users.", "It has 1,500,000 users."),
    ("It has 1,530,000 users.", "It has 1.5 million users."),  # a rounding
    ("Capacity is 2.4 PB.", "Capacity is about 2 PB."),
    ("The 70B model leads.", "The 70 billion parameter model leads."),
    ("Contexts of 128k tokens.", "Contexts of 128,000 tokens."),
    ("It is three times faster.", "It is 3x faster."),
    ("A 10-fold rise.", "A tenfold rise."),
    ("The deal is worth $2 billion.", "The deal is worth 2 billion dollars."),
    ("The deal is worth $2 billion.", "The deal is worth US$2bn."),
    ("Five patients relapsed.", "5 patients relapsed."),
    ("It took 24 hours.", "It took 1 day."),
    ("Checkpoints take 12 to 16 bytes per parameter.", "Checkpoints take 12 bytes per parameter at least."),
    ("Funding of $10-20 million.", "Funding of at least $10 million."),
    ("The Pro plan costs $20 per user per month.", "The Pro plan is $20/month."),
    ("The plan costs $20.", "The plan costs $20 a month."),  # a rate the passage does not name is the words' business
    ("Prohibitions apply since 2 February 2025.", "Prohibitions apply since February 2, 2025."),
    ("Prohibitions apply since 2 February 2025.", "Prohibitions apply since 2025."),
    ("Prohibitions apply since 2 February 2025.", "Prohibitions apply since February 2025."),
    ("It was released on 2024-05-13.", "It was released on 13 May 2024."),
    ("Norway is adding 2 PB.", "It is the 2 providers' deal."),  # a bare number: the number is there
]

# The passage's figure is another one.
MUST_NOT_SUPPORT = [
    ("Norway is adding 2 PB of all-flash capacity.", "Norway pays $2 billion."),
    ("Norway is adding 2 PB of all-flash capacity.", "Norway buys 2 billion of them."),
    ("Norway is adding 2 PB of all-flash capacity.", "Norway buys 2 TB."),
    ("The plan costs $20.", "The plan costs €20."),
    ("The plan costs $20 a month.", "The plan costs $20 a year."),
    ("The plan costs 20 cents.", "The plan costs $20."),
    ("Usage grew 40%.", "Usage grew 40 percentage points."),
    ("Usage grew 40%.", "Usage grew 40-fold."),
    ("Usage grew 40%.", "Usage grew 45%."),
    ("It has 1.5 million users.", "It has 1.5 billion users."),
    ("It has 12 users.", "It has 10 users."),  # not a rounding at the claim's own precision
    ("Capacity is 2 PB.", "Capacity is 2.4 PB."),  # more digits than the passage gives
    ("Prohibitions apply since 2 February 2025.", "Prohibitions apply since 2 March 2025."),
    ("Prohibitions apply since February 2025.", "Prohibitions apply since 2 February 2025."),
    ("Prohibitions apply since 2025.", "Prohibitions apply since 2024."),
    ("Released in 2019.", "Released 2019 days ago, 5 times over."),
    ("GPT-4 and IL-6 are named.", "It scored 4 points."),  # digits inside names are no figures
    ("Patients took 40 mg daily.", "Patients took 40 g daily."),
]


@pytest.mark.parametrize(("evidence", "claim"), MUST_SUPPORT)
def test_a_passage_figure_supports_the_same_figure_however_written(evidence, claim):
    assert _supported(evidence, claim)


@pytest.mark.parametrize(("evidence", "claim"), MUST_NOT_SUPPORT)
def test_a_passage_figure_does_not_support_another_value_unit_currency_or_scale(evidence, claim):
    assert not _supported(evidence, claim)


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("Norway is adding 2 PB of capacity.", [("2 PB", 2e15, "data")]),
        ("It costs $2 billion.", [("$2 billion", 2e9, "currency:USD")]),
        ("15 cents", [("15 cents", 0.15, "currency:USD")]),
        ("€20/month", [("€20/month", 20, "currency:EUR")]),
        ("It answers in 200 ms.", [("200 ms", 0.2, "time")]),
        ("A 3x speed-up on 1,000 GPUs.", [("3x", 3, "multiple"), ("1,000", 1000, "")]),
    ],
)
def test_figures_are_read_with_their_unit_currency_and_scale(text, read):
    assert [(f.text, pytest.approx(f.value), f.dimension) for f in figures(text)] == read


@pytest.mark.parametrize(
    "text",
    ["GPT-4 beats Qwen2.5-Coder-1.5B.", "IL-6 and ADAR1 bind 3-kinase.", "Python v3.11 and 2.1.3.", "5G phones.",
     "It depends, in short.", "One of them is good."],
)
def test_names_versions_and_lone_number_words_are_no_figures_of_a_claim(text):
    assert figures(text) == ()


def test_a_passage_offers_lone_number_words_as_figures():
    assert [f.value for f in figures("Five patients and one nurse.", lone_words=True)] == [5, 1]


def test_a_range_lends_its_unit_and_scale_to_both_ends():
    low, high = figures("between 12 and 16 bytes, and $10-20 million")[:2]
    assert (low.dimension, high.dimension) == ("data", "data")
    low, high = figures("$10-20 million")
    assert (low.value, high.value) == (10e6, 20e6)
    assert low.dimension == high.dimension == "currency:USD"


def test_a_bare_year_in_a_claim_is_supported_by_a_date_of_that_year():
    (date,) = figures("on 2 February 2025")
    (year,) = figures("in 2025")
    assert supports(date, year) and not supports(date, figures("in 2024")[0])


# ---- names -----------------------------------------------------------------------------------------------------


def _names(text: str) -> list[str]:
    return [n.text for n in names(text, STOP_WORDS)]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Norway buys storage from Huawei's OceanStor line.", ["Huawei", "OceanStor"]),  # the first word is no name
        ("AWS and Azure both offer it.", ["AWS", "Azure"]),  # a symbol is a name even first
        ("I think it is fast.", []),  # "I" is no name
        ("However, The Verge reported it.", ["Verge"]),  # stop words are no names
        ("**Pricing:** Starts at the free tier.", []),  # a start after a colon, past the emphasis
        ("Two options: Notion and Obsidian.", ["Obsidian"]),
        ("It runs GPT-4 and Qwen2.5-Coder.", ["GPT-4", "Qwen2.5-Coder"]),
        ("It is an AI-powered tool.", ["AI-powered"]),
    ],
)
def test_names_are_capitalised_words_the_grammar_does_not_explain(sentence, expected):
    assert _names(sentence) == expected


@pytest.mark.parametrize(
    ("claim", "passage"),
    [
        ("It uses RAG for answers.", "retrieval-augmented generation (rag) answers"),  # another case
        ("It has a Free plan.", "There is a free plan."),
        ("It runs on NVIDIA GPUs.", "It runs on an NVIDIA GPU."),  # an acronym's plural
        ("It is sold in the U.S. market.", "It is sold in the US."),  # an initialism's dots
        ("It ships in February.", "It ships in Feb."),  # a month's abbreviation
        ("Most Americans use it.", "An American survey."),  # a stem
        ("It is an AI-powered tool.", "It is powered by AI."),  # a hyphenated name's capitalised parts
        ("It runs GPT-4 locally.", "GPT-4 runs locally."),
    ],
)
def test_a_name_is_found_in_a_passage_that_writes_it_another_way(claim, passage):
    found = names(claim, STOP_WORDS)
    assert found and all(k in name_keys(passage) for name in found for k in name.keys)


def test_a_name_with_a_digit_must_be_found_whole():
    (name,) = names("It runs GPT-4 locally.", STOP_WORDS)
    assert not all(k in name_keys("GPT-4o and GPT-3 run locally; 4 others do not.") for k in name.keys)
