"""The one-shot disclosure phase: each side is asked, once, whether to state its reservation value.

The question is the side's first turn of an ordinary negotiation whose rules allow `disclose_value`: a side that
calls it has disclosed (what it states is cheap talk and may be false); any other first move is a refusal; a side
that forfeits before making a valid move gave no answer. The negotiation then goes on for the preset's K rounds,
so the efficiency that follows can be set beside the theory module's efficiency curve in the disclosure rate α.

Scripted disclosure strategies stand in for models: truthful, shading by a factor, refusing, or disclosing with a
probability. After the question they split the difference of the two stated values when both sides stated one
(the mechanism the α curve assumes for disclosing pairs) and otherwise bargain like an inner scripted strategy.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from haggle.env.actions import ACCEPT_OFFER, DISCLOSE_VALUE, MAKE_OFFER, SEND_MESSAGE, Move, ToolCall
from haggle.env.agents.base import Agent, create_agent, register_agent
from haggle.env.scenario import ROLES, Role, derive_seed
from haggle.env.views import View
from haggle.eval import stats

REFUSAL_TEXT = "I would rather not disclose my value."

DISCLOSURE_PROMPT = (
    "Before any offer, you are asked once, on your first turn, whether to disclose your reservation value. "
    "To disclose, call disclose_value with the value you choose to state (nothing checks it). To decline, call "
    "send_message and say so. After that first turn, negotiate as usual."
)


class DisclosingAgent(Agent):
    """Answers the disclosure question on its first turn, then bargains (see the module docstring)."""

    name = "discloser"

    def __init__(
        self,
        role: Role,
        seed: int = 0,
        disclose_probability: float = 1.0,
        shade: float = 0.0,
        inner: str = "linear",
        inner_params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(role, seed)
        if not 0 <= disclose_probability <= 1:
            raise ValueError("disclose_probability must be in [0, 1]")
        if not -1 < shade < 1:
            raise ValueError("shade must be in (-1, 1)")
        self.shade = shade
        self.inner = create_agent(inner, role=role, seed=seed, **dict(inner_params or {}))
        self.discloses = random.Random(derive_seed("disclose", seed, role)).random() < disclose_probability

    def stated_value(self, value: float) -> float:
        """The value this side states: shading moves it in the self-serving direction (buyer down, seller up)."""
        return value * (1 - self.shade) if self.role == "buyer" else value * (1 + self.shade)

    def decide(self, view: View) -> Move:
        if not any(event.actor == self.role for event in view.history):
            if self.discloses:
                return ToolCall(DISCLOSE_VALUE, {"value": round(self.stated_value(view.private_value), 2)})
            return ToolCall(SEND_MESSAGE, {"text": REFUSAL_TEXT})
        split = self.split_price(view)
        if split is None:
            return self.inner.decide(view)
        standing = view.standing_offer
        if standing is not None and (
            standing.price <= split if self.role == "buyer" else standing.price >= split
        ):
            return ToolCall(ACCEPT_OFFER)
        return ToolCall(MAKE_OFFER, {"price": split})

    def split_price(self, view: View) -> float | None:
        """The midpoint of the two stated values, when both were stated, overlap and it is no loss to us."""
        stated = {
            e.actor: e.price for e in view.history if e.action == DISCLOSE_VALUE and e.price is not None
        }
        if set(stated) != set(ROLES) or stated["buyer"] < stated["seller"]:
            return None
        price = round((stated["buyer"] + stated["seller"]) / 2, 2)
        rational = price <= view.private_value if self.role == "buyer" else price >= view.private_value
        return price if rational else None


register_agent("discloser")(DisclosingAgent)


@register_agent("truthful_discloser")
def truthful_discloser(role: Role, seed: int = 0, **params: Any) -> Agent:
    return DisclosingAgent(role, seed, disclose_probability=1.0, shade=0.0, **params)


@register_agent("shading_discloser")
def shading_discloser(role: Role, seed: int = 0, shade: float = 0.2, **params: Any) -> Agent:
    return DisclosingAgent(role, seed, disclose_probability=1.0, shade=shade, **params)


@register_agent("disclosure_refuser")
def disclosure_refuser(role: Role, seed: int = 0, **params: Any) -> Agent:
    return DisclosingAgent(role, seed, disclose_probability=0.0, **params)


# -- measurement ----------------------------------------------------------------------------------------------
Answer = Literal["disclosed", "refused", "no_answer"]


@dataclass(frozen=True)
class DisclosureAnswer:
    """How one side answered the disclosure question, read from the episode's public event log."""

    role: Role
    answer: Answer
    true_value: float
    stated_value: float | None = None

    @property
    def misstatement(self) -> float | None:
        """(stated - true) / true: negative for a buyer or positive for a seller is self-serving shading."""
        if self.stated_value is None or self.true_value <= 0:
            return None
        return (self.stated_value - self.true_value) / self.true_value

    def truthful(self, tolerance: float) -> bool | None:
        misstatement = self.misstatement
        return None if misstatement is None else abs(misstatement) <= tolerance


def disclosure_answers(record: Mapping[str, Any]) -> dict[Role, DisclosureAnswer]:
    """Each side's answer: its first valid public move (violations are private and do not answer)."""
    scenario = record["scenario"]
    true_values = {"buyer": scenario["buyer_value"], "seller": scenario["seller_cost"]}
    answers: dict[Role, DisclosureAnswer] = {}
    for role in ROLES:
        first = next(
            (
                e
                for e in record.get("events", [])
                if e["actor"] == role and e["public"] and e["kind"] != "violation"
            ),
            None,
        )
        if first is None or first["kind"] == "forfeit":
            answers[role] = DisclosureAnswer(role, "no_answer", true_values[role])
        elif first["kind"] == DISCLOSE_VALUE:
            answers[role] = DisclosureAnswer(
                role, "disclosed", true_values[role], first["payload"].get("price")
            )
        else:
            answers[role] = DisclosureAnswer(role, "refused", true_values[role])
    return answers


@dataclass(frozen=True)
class DisclosureCounts:
    asked: int
    disclosed: int
    refused: int
    no_answer: int
    truthful: int
    mean_abs_misstatement: float | None
    self_serving: int  # disclosures shaded in the discloser's favour beyond the tolerance


def disclosure_rate(
    records: Sequence[Mapping[str, Any]], roles: tuple[Role, ...] = ROLES, seed: int = 0
) -> stats.Interval:
    """α = disclosures over questions asked, with a 95% interval that resamples dialogues, not sides: the two
    sides of one dialogue answer the same conversation (in self-play, the same model), so they are not
    independent trials. At α = 0 or 1 the interval is Wilson's on the number of dialogues."""
    if not records:
        raise ValueError("no episodes to measure a disclosure rate on")
    per_dialogue = np.array(
        [
            [sum(answers[role].answer == "disclosed" for role in roles), len(roles)]
            for answers in map(disclosure_answers, records)
        ],
        dtype=float,
    )
    return stats.bootstrap_ci(
        per_dialogue, lambda rows: rows[:, 0].sum() / rows[:, 1].sum(), seed=seed, bounds=(0.0, 1.0)
    )


def count_disclosures(
    records: Iterable[Mapping[str, Any]], tolerance: float = 0.01, roles: tuple[Role, ...] = ROLES
) -> DisclosureCounts:
    answers = [disclosure_answers(record)[role] for record in records for role in roles]
    disclosed = [a for a in answers if a.answer == "disclosed"]
    misstatements = [a.misstatement for a in disclosed if a.misstatement is not None]
    return DisclosureCounts(
        asked=len(answers),
        disclosed=len(disclosed),
        refused=sum(a.answer == "refused" for a in answers),
        no_answer=sum(a.answer == "no_answer" for a in answers),
        truthful=sum(bool(a.truthful(tolerance)) for a in disclosed),
        mean_abs_misstatement=sum(map(abs, misstatements)) / len(misstatements) if misstatements else None,
        self_serving=sum(
            (a.misstatement or 0) < -tolerance if a.role == "buyer" else (a.misstatement or 0) > tolerance
            for a in disclosed
        ),
    )
