"""Classic scripted negotiators: the fixed opponents of evals and GRPO, and the SFT experts of the CPU default.

Each reads only its own view (own value, the public prior [value_low, value_high], the public history) and is
deterministic given its seed. None accepts a deal at a loss unless built with `accept_losses=True`.
Aspirations come from the public prior: a seller opens near the top of it, a buyer near the bottom.
"""

from __future__ import annotations

import random

from haggle.env.actions import ACCEPT_OFFER, MAKE_OFFER, WALK_AWAY, Action, Move
from haggle.env.agents.base import Agent, register_agent
from haggle.env.negotiation import round_cents
from haggle.env.scenario import Role
from haggle.env.views import View


def _better_or_equal(role: Role, price: float, than: float) -> bool:
    return price <= than if role == "buyer" else price >= than


class ScriptedAgent(Agent):
    """Shared acceptance logic: take the standing offer when it is at least as good as what we would ask next.

    Strategies implement `decide_action`, which returns an already valid `Action`: the episode loop hands it to
    the engine as is (no tool-call parsing on the simulate hot path), and `decide` gives the same move as the tool
    call every other consumer reads."""

    def __init__(self, role: Role, seed: int = 0, accept_losses: bool = False) -> None:
        super().__init__(role, seed)
        self.accept_losses = accept_losses

    def aspiration(self, view: View) -> float:
        """The best price this side could hope for: the far end of the prior, never worse than its own value."""
        if self.role == "buyer":
            return min(view.value_low, view.private_value)
        return max(view.value_high, view.private_value)

    def individually_rational(self, view: View, price: float) -> bool:
        return self.accept_losses or _better_or_equal(self.role, price, view.private_value)

    def time_fraction(self, view: View) -> float:
        """0 at this side's first turn, 1 at its last."""
        total = view.max_rounds
        return 1.0 if total <= 1 else min(1.0, (total - view.turns_left) / (total - 1))

    def decide(self, view: View) -> Move:
        return self.decide_action(view).as_tool_call()

    def decide_action(self, view: View) -> Action:
        target = round_cents(self.next_price(view))
        standing = view.standing_offer
        if (
            standing is not None
            and self.individually_rational(view, standing.price)
            and (_better_or_equal(self.role, standing.price, target) or view.turns_left <= 1)
        ):
            return Action(ACCEPT_OFFER)
        return Action(MAKE_OFFER, target)

    def next_price(self, view: View) -> float:
        raise NotImplementedError


class TimeDependentAgent(ScriptedAgent):
    """Faratin et al.'s time-dependent tactic: price moves from aspiration to reservation as t^(1/exponent).

    exponent < 1 is Boulware (holds firm, concedes at the deadline), 1 is linear, > 1 is a Conceder.
    """

    def __init__(self, role: Role, seed: int = 0, exponent: float = 1.0, accept_losses: bool = False) -> None:
        super().__init__(role, seed, accept_losses)
        if exponent <= 0:
            raise ValueError("exponent must be positive")
        self.exponent = exponent

    def next_price(self, view: View) -> float:
        start, reserve = self.aspiration(view), view.private_value
        return start + (reserve - start) * self.time_fraction(view) ** (1 / self.exponent)


@register_agent("boulware")
def boulware(role: Role, seed: int = 0, exponent: float = 0.2, **kw: bool) -> Agent:
    return TimeDependentAgent(role, seed, exponent, **kw)


@register_agent("linear")
def linear(role: Role, seed: int = 0, exponent: float = 1.0, **kw: bool) -> Agent:
    return TimeDependentAgent(role, seed, exponent, **kw)


@register_agent("conceder")
def conceder(role: Role, seed: int = 0, exponent: float = 5.0, **kw: bool) -> Agent:
    return TimeDependentAgent(role, seed, exponent, **kw)


register_agent("time_dependent")(TimeDependentAgent)


@register_agent("tit_for_tat")
class TitForTatAgent(ScriptedAgent):
    """Relative tit-for-tat: concede the same fraction of the gap that the other side conceded last time."""

    def next_price(self, view: View) -> float:
        own, theirs = view.offers_by(self.role), view.offers_by(view.other_role)
        if not own:
            return self.aspiration(view)
        if len(theirs) < 2:
            return own[-1]
        their_step = (
            abs(theirs[-1] - theirs[-2]) if _better_or_equal(view.other_role, theirs[-2], theirs[-1]) else 0.0
        )  # only real concessions by the other side are reciprocated
        step = their_step if self.role == "buyer" else -their_step
        candidate = own[-1] + step
        return (
            min(candidate, view.private_value) if self.role == "buyer" else max(candidate, view.private_value)
        )


@register_agent("hardliner")
class HardlinerAgent(ScriptedAgent):
    """Names one price with a fixed margin over its own value and never moves."""

    def __init__(self, role: Role, seed: int = 0, margin: float = 0.3, accept_losses: bool = False) -> None:
        super().__init__(role, seed, accept_losses)
        self.margin = margin

    def next_price(self, view: View) -> float:
        factor = 1 - self.margin if self.role == "buyer" else 1 + self.margin
        return view.private_value * factor


@register_agent("posted_price")
class PostedPriceAgent(ScriptedAgent):
    """Take it or leave it at the monopoly price against the uniform prior; walks away once it was refused.

    A seller with cost c facing v ~ U[L, H] maximises (p - c)(H - p): p = (H + c) / 2. A buyer with value v facing
    c ~ U[L, H] maximises (v - p)(p - L): p = (v + L) / 2.
    """

    def next_price(self, view: View) -> float:
        if self.role == "seller":
            return (view.value_high + view.private_value) / 2
        return (view.value_low + view.private_value) / 2

    def decide_action(self, view: View) -> Action:
        price = round_cents(self.next_price(view))
        standing = view.standing_offer
        if (
            standing is not None
            and _better_or_equal(self.role, standing.price, price)
            and self.individually_rational(view, standing.price)
        ):
            return Action(ACCEPT_OFFER)
        if view.my_offer is not None and view.offers_by(view.other_role):
            return Action(WALK_AWAY)  # the posted price was answered with something else: leave it
        return Action(MAKE_OFFER, price)


@register_agent("random")
class RandomAgent(ScriptedAgent):
    """Offers uniformly between its own value and its aspiration; accepts a rational offer half of the time."""

    def __init__(
        self, role: Role, seed: int = 0, accept_probability: float = 0.5, accept_losses: bool = False
    ) -> None:
        super().__init__(role, seed, accept_losses)
        self.accept_probability = accept_probability
        self.rng = random.Random(seed)

    def next_price(self, view: View) -> float:
        return self.rng.uniform(view.private_value, self.aspiration(view))

    def decide_action(self, view: View) -> Action:
        standing = view.standing_offer
        if (
            standing is not None
            and self.individually_rational(view, standing.price)
            and self.rng.random() < self.accept_probability
        ):
            return Action(ACCEPT_OFFER)
        return Action(MAKE_OFFER, round_cents(self.next_price(view)))
