"""Follow-up questions without a language model: spotting them, and rewriting them into standalone queries.

`condense_heuristic` is the cheap rewrite used when no chat model condenses the question: it puts the previous
question's salient terms in front of a question that leans on the conversation (`is_followup`).
`keep_context` guards a model's rewrite: a small model sometimes drops the subject a follow-up leans on, or returns
the follow-up unchanged, and the search then runs on "And where does it lead?".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hubchat.types import Turn

# Words that make a question lean on the conversation before it.
_ANAPHORS = frozenset(
    "it its it's itself they them their theirs those these this that he she his her him one ones former latter".split()
)
_POSSESSIVES = frozenset({"its", "their", "his", "her", "theirs"})
_OPENERS = ("and ", "what about", "how about", "what of", "also", "same for", "same question", "then ", "but ", "so ")
_TRAILING_CUES = (", then", " then", " instead", " too", " as well")
# Function words and question scaffolding: never salient, never a named entity when capitalised.
_FUNCTION_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing done down during each either else even ever every few for from
    further get gets getting give given go going got had has have having how however i if in into is isn't it
    it's its just least less let like make makes many may me might more most much must my need needs no nor not
    now of off often on once one ones only or other our out over own per please quite rather really same say
    says shall she should so some still such tell than that the their them then there these they thing things
    this those though through to too under until up upon us use used uses using very via want was way ways we
    well were what what's whats when where whether which while who whom whose why will with within without would
    yes yet you your which's vs versus compare compared comparison difference differences best good better worse
    i'm i've i'd there's that's here's where's how's who's pick choose come comes already put putting take work
    works happen mean means know find see try add explain list show describe summarise summarize define name""".split()
)
_CLAUSE_BREAK = re.compile(r"[,;:]|\s(?:and|or|but)\s", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+#'’-]*[A-Za-z0-9+#]|[A-Za-z0-9]")
_SHORT_QUESTION_WORDS = 4
_MAX_CONTEXT_TERMS = 10


def _words(text: str) -> list[str]:
    return [w.replace("’", "'") for w in _WORD.findall(text)]


def _is_entity(word: str, position: int) -> bool:
    """A name of its own: an acronym (GPU, EU), a word mixing letters and digits (H100, GPT-4o), camel case
    (pgVector), or a capitalised word after the first. The first word is capitalised anyway, so there only the
    other signs count ("Pricing?" names nothing; "Ollama?" is caught by being short either way)."""
    base = word.split("'")[0]
    if not base or base.lower() in _FUNCTION_WORDS:
        return False
    if any(ch.isdigit() for ch in base) and any(ch.isalpha() for ch in base):
        return True
    if len(base) > 1 and base.isupper():
        return True
    if any(ch.isupper() for ch in base[1:]):
        return True
    if re.search(r"[a-z][.+#][a-z0-9]", base.lower()):  # llama.cpp, node.js
        return True
    return position > 0 and base[0].isupper()


def _salient_terms(question: str) -> list[str]:
    """The content words of a question, in order, without question scaffolding (names, nouns, key modifiers)."""
    terms = []
    for word in _words(question):
        base = word.split("'")[0] if word.lower().endswith("'s") else word
        if base.lower() in _FUNCTION_WORDS or len(base) < 2 and not base.isdigit():
            continue
        terms.append(base)
    return list(dict.fromkeys(terms))


def _is_anaphor(words: Sequence[str], i: int) -> bool:
    word = words[i].lower().split("'")[0]
    if word in ("one", "ones"):
        # "which one is", "the cheaper ones?" point back; "one GPU" is a number.
        return i + 1 == len(words) or words[i + 1].lower() in _FUNCTION_WORDS
    return word in _ANAPHORS


def is_followup(question: str) -> bool:
    """Whether a question reads as depending on the conversation before it.

    True when it opens with a continuation ("And ...", "What about ...", "How about ..."), ends with one
    ("..., then?"), uses a pronoun or deictic word (it, they, that, those, this one, the former) in its first
    clause (a possessive such as "its" only when no name comes before it), or is very short (at most four
    words) and names nothing. Known misses: a relative "that" ("tools that run offline") reads as deictic.
    """
    text = " ".join(question.split())
    lower = text.lower()
    if not lower:
        return False
    if lower.startswith(_OPENERS) or lower.rstrip("?!. ").endswith(_TRAILING_CUES):
        return True
    words = _words(text)
    entities = [i for i, w in enumerate(words) if _is_entity(w, i)]
    # Only the first clause counts: in "How should I chunk docs, and how does that fit ...", a pronoun in a
    # later clause usually points back into the question itself.
    first_clause = len(_words(_CLAUSE_BREAK.split(text, maxsplit=1)[0]))
    for i in range(first_clause):
        if not _is_anaphor(words, i):
            continue
        # A possessive after a name usually points back to that name ("How does Ollama expose its API?");
        # other pronouns and deictic words point outside the question ("Does Chroma support it?").
        if words[i].lower() not in _POSSESSIVES or not any(e < i for e in entities):
            return True
    return len(words) <= _SHORT_QUESTION_WORDS and not entities


def condense_heuristic(question: str, history: Sequence[Turn]) -> str:
    """Rewrite a follow-up into a standalone search query without a language model.

    When `is_followup(question)` holds and there is history, the salient terms of the previous question (its
    content words: names, nouns and their modifiers, question scaffolding removed) are put in front of the
    question; the previous question is itself condensed first, so a chain of follow-ups keeps the original
    topic. Terms the question already contains are not repeated, and at most ten are added. Any other question
    is returned unchanged (whitespace normalised). Deterministic: the same input always gives the same output.

    Examples:
        ("Does it have a free tier?", [Turn("Which image generator renders text best?", ...)])
            -> "image generator renders text: Does it have a free tier?"
        ("What is Ollama?", [...]) -> "What is Ollama?"

    Args:
        question: the user's new question.
        history: earlier turns, oldest first.

    Returns:
        The search query.
    """
    question = " ".join(question.split())
    if not history or not is_followup(question):
        return question
    context = _context_terms(question, history)
    if not context:
        return question
    return f"{' '.join(context)}: {question}"


def _context_terms(question: str, history: Sequence[Turn]) -> list[str]:
    """The salient terms of the previous (itself condensed) question that `question` does not already hold."""
    previous = condense_heuristic(history[-1].question, history[:-1])
    own = {w.lower() for w in _salient_terms(question)}
    return [t for t in _salient_terms(previous) if t.lower() not in own][:_MAX_CONTEXT_TERMS]


def keep_context(rewritten: str, question: str, history: Sequence[Turn]) -> str:
    """A model's rewrite of a follow-up, with the conversation's subject put back when the rewrite lost it.

    When `question` leans on the conversation (`is_followup`) and the rewrite neither holds one of the previous
    question's names (or, when it named nothing, one of its content words) nor names something the follow-up
    did not (what the model read in the answer: "Does Ideogram have a free tier?"), the rewrite is as lost as the
    bare follow-up; the terms `condense_heuristic` would add are put in front of it. Otherwise the rewrite is
    kept as it is: it usually names the subject better than any heuristic.

    Examples:
        ("Where does NVIDIA still clearly lead?", "And where does NVIDIA still clearly lead?",
         [Turn("What is the main advantage of AMD's MI300X over NVIDIA's H100?", ...)])
            -> "main advantage AMD MI300X H100: Where does NVIDIA still clearly lead?"
    """
    rewritten = " ".join(rewritten.split())
    if not history or not is_followup(question):
        return rewritten
    context = _context_terms(question, history)
    names = [t for i, t in enumerate(context) if _is_entity(t, i + 1)]
    wanted = {t.lower() for t in (names or context)}
    words = _words(rewritten)
    held = {w.lower().split("'")[0] for w in words}
    own = {w.lower().split("'")[0] for w in _words(question)}
    new_names = {w.lower().split("'")[0] for i, w in enumerate(words) if _is_entity(w, i)} - own
    if not wanted or wanted & held or new_names:
        return rewritten
    return f"{' '.join(context)}: {rewritten}"
