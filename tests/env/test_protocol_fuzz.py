"""Arbitrary move sequences never crash the engine and always leave a consistent episode."""

from haggle.env.actions import ToolCall, Unparseable
from haggle.env.negotiation import Negotiation, ProtocolRules
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from hypothesis import given, settings
from hypothesis import strategies as st

SCENARIOS = ScenarioSampler(SamplerConfig(max_rounds=4, first_mover="random")).sample(20, seed=5)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**7),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
)
moves = st.one_of(
    st.builds(
        ToolCall,
        st.sampled_from(
            [
                "make_offer",
                "accept_offer",
                "reject_offer",
                "send_message",
                "walk_away",
                "disclose_value",
                "",
                "steal",
            ]
        ),
        st.one_of(
            st.dictionaries(st.sampled_from(["price", "text", "message", "value", "x"]), values, max_size=3),
            st.text(max_size=40),
        ),
    ),
    st.builds(Unparseable, st.text(min_size=1, max_size=20)),
)


@settings(max_examples=200, deadline=None)
@given(
    index=st.integers(0, 19),
    plan=st.lists(st.tuples(st.sampled_from(["buyer", "seller"]), moves), max_size=40),
)
def test_any_move_sequence_keeps_the_engine_consistent(index, plan):
    game = Negotiation(SCENARIOS[index], ProtocolRules(max_violations=5))
    for role, move in plan:
        result = game.step(role, move)
        assert isinstance(result.feedback, str) and result.feedback
        assert result.done == game.done
        assert game.violations["buyer"] <= 5 and game.violations["seller"] <= 5
        if game.done:
            break
    assert game.turn_count <= 2 * SCENARIOS[index].max_rounds
    if game.outcome is not None:
        outcome = game.outcome
        assert outcome.deal == (outcome.end_reason == "accepted")
        if outcome.deal:
            assert outcome.price is not None and outcome.price > 0
    assert [event.index for event in game.events] == list(range(len(game.events)))
