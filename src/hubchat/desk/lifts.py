"""The passages whose demotion editors lifted, as the desk lists them for withdrawing a lift.

A lift sets aside the passage's "wrong citation" verdicts saved up to the lift (see `Records.lift_demotion`);
withdrawing it (a newer row with lifted False) makes every one of them count again. The list says which passage
each lift is on (its title and section, from the verdicts: a lift row keeps only the chunk id) and how many
answers' verdicts it sets aside, so an editor sees what withdrawing it would bring back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hubchat.records import DemotionLift, WrongCitation


@dataclass(frozen=True)
class LiftedPassage:
    """A passage whose demotion is lifted now.

    Attributes:
        title, article_id, section: from its verdicts; the chunk id as title when none is left (verdicts changed
            since the lift).
        set_aside: answers judged "wrong citation" for it up to the lift: what counts again if it is withdrawn.
    """

    chunk_id: str
    article_id: str
    title: str
    section: str
    lift: DemotionLift
    set_aside: int


def lifted_passages(lifts: Sequence[DemotionLift], verdicts: Iterable[WrongCitation]) -> tuple[LiftedPassage, ...]:
    """One entry per current lift, in the order given.

    Args:
        lifts: the current lifts (`Records.lifted_demotions`).
        verdicts: the wrong citations including the lifted ones (`Records.wrong_citations(include_lifted=True)`).
    """
    by_chunk: dict[str, list[WrongCitation]] = {}
    for v in verdicts:
        by_chunk.setdefault(v.chunk_id, []).append(v)
    found = []
    for lift in lifts:
        judged = by_chunk.get(lift.chunk_id, [])
        # One answer counts once for a passage, as the demoter counts it.
        set_aside = len({v.answer_id for v in judged if v.created_at <= lift.created_at})
        first = judged[0] if judged else None
        found.append(LiftedPassage(
            chunk_id=lift.chunk_id, article_id=first.article_id if first else "", title=first.title if first else lift.chunk_id,
            section=first.section if first else "", lift=lift, set_aside=set_aside,
        ))
    return tuple(found)
