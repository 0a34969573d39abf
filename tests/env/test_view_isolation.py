"""An in-process agent cannot change what the other side reads or what binds: views share nothing mutable."""

import asyncio
import contextlib
import dataclasses

import pytest
from haggle.env.actions import ToolCall
from haggle.env.agents.base import Agent
from haggle.env.episode_loop import play_episode
from haggle.env.negotiation import Negotiation, offer_call
from haggle.env.scenario import SamplerConfig, ScenarioSampler, other_role
from haggle.env.views import View

HOTEL = ScenarioSampler(SamplerConfig(value_model="hotel_room_block", domains=["hotel_b2b"], max_rounds=4))


@pytest.fixture
def scenario():
    return HOTEL.sample(1, seed=3)[0]


class Tamperer(Agent):
    """Rewrites everything it can reach in its view, then offers the other side's latest price back."""

    def decide(self, view: View) -> ToolCall:
        for event in view.history:
            with contextlib.suppress(AttributeError, TypeError):
                event.price = 1.0  # type: ignore[misc]
        for offer in (view.standing_offer, view.my_offer):
            with contextlib.suppress(AttributeError, TypeError):
                offer.price = 1.0  # type: ignore[misc, union-attr]
        with contextlib.suppress(AttributeError, TypeError):
            view.context["rack_rate"] = 1.0  # type: ignore[index]
        with contextlib.suppress(AttributeError, TypeError):
            view.history.clear()  # type: ignore[attr-defined]
        return offer_call(view.standing_offer.price if view.standing_offer else view.private_value)


class Reader(Agent):
    """Records every view it is given, then makes a fixed offer."""

    def __init__(self, role, price: float) -> None:
        super().__init__(role)
        self.price, self.seen = price, []

    def decide(self, view: View) -> ToolCall:
        self.seen.append(([(event.actor, event.price) for event in view.history], dict(view.context)))
        return offer_call(self.price)


def test_a_tampering_agent_changes_nothing_the_other_side_reads(scenario):
    context = dict(scenario.context)
    tamperer_role = other_role(scenario.first_mover)
    reader = Reader(scenario.first_mover, price=round((scenario.value_low + scenario.value_high) / 2, 2))
    agents = {tamperer_role: Tamperer(tamperer_role), reader.role: reader}
    episode = asyncio.run(play_episode(scenario, agents["buyer"], agents["seller"]))
    offers = [(e.actor, e.payload["price"]) for e in episode.negotiation.events if e.kind == "make_offer"]
    assert len(reader.seen) == scenario.max_rounds
    for turn, (history, seen_context) in enumerate(reader.seen):
        # the reader saw exactly the offers that were made, at their prices
        assert history == offers[: 2 * turn]
        assert seen_context == context
    assert scenario.context == context
    assert all(price == reader.price for _, price in offers)  # the tamperer echoed the real binding price


def test_view_fields_shared_with_the_engine_are_read_only(scenario):
    negotiation = Negotiation(scenario)
    first = scenario.first_mover
    price = round(scenario.value_high * 0.9, 2)
    negotiation.step(first, offer_call(price))
    view = negotiation.view(other_role(first))
    with pytest.raises(AttributeError):
        view.history[0].price = 1.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        view.standing_offer.price = 1.0  # type: ignore[misc, union-attr]
    with pytest.raises(TypeError):
        view.context["rack_rate"] = 1.0  # type: ignore[index]
    assert negotiation.standing_offer is not None and negotiation.standing_offer.price == price
    assert negotiation.view(first).history[0].price == price


def test_nested_context_is_read_only_too(scenario):
    nested = dataclasses.replace(scenario, context={"rooms": {"double": 3}, "nights": [1, 2]})
    view = Negotiation(nested).view("buyer")
    with pytest.raises(TypeError):
        view.context["rooms"]["double"] = 9  # type: ignore[index]
    assert view.context["nights"] == (1, 2)
    nested.context["rooms"]["double"] = 9  # the scenario's own dict is the caller's business, not the view's
    assert view.context["rooms"]["double"] == 3
