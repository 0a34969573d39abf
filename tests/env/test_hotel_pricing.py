"""Hotel room-block economics: the dynamic program against brute force, its structure, draws and the baseline."""

import itertools
import math
import random
import time
from dataclasses import replace

import pytest
from haggle.env.hotel_pricing import (
    HotelMarket,
    RoomBlockSpec,
    TourOperator,
    block_opportunity_cost,
    draw_room_block,
    expected_revenue,
    optimal_price,
    posted_price_baseline,
    value_table,
)
from hypothesis import given, settings
from hypothesis import strategies as st

CLOSE = None  # the brute force's "stop selling" action
SMALL_GRID_MARKETS = [  # each optimal policy switches price with the state, or closes sales
    HotelMarket(rooms=3, periods=4, arrival_probability=0.9, rack_rate=100.0, price_grid=(70.0, 180.0)),
    HotelMarket(3, 4, 0.4, 100.0, nights=2, salvage=5.0, price_grid=(80.0, 180.0)),
    HotelMarket(3, 4, 1.0, 100.0, nights=2, salvage=95.0, price_grid=(60.0, 90.0)),  # salvage beats any sale
]


# -- brute force, independent of the module's recursion -------------------------------------------------------
def _step(market, price, rooms):
    """(sale probability, revenue if sold) of posting `price` (None = closed) with `rooms` left."""
    if price is CLOSE or rooms == 0:
        return 0.0, 0.0
    return market.arrival_probability * math.exp(-price / market.rack_rate), market.nights * price


def _expectimax(market, rooms, periods):
    """Best expected revenue over the whole decision tree (no memo, no value table)."""
    if periods == 0:
        return rooms * market.nights * market.salvage
    best = -math.inf
    for price in (*market.price_grid, CLOSE):
        sold, revenue = _step(market, price, rooms)
        keep = _expectimax(market, rooms, periods - 1)
        sell = revenue + _expectimax(market, rooms - 1, periods - 1) if sold else 0.0
        best = max(best, sold * sell + (1 - sold) * keep)
    return best


def _best_markov_policy_value(market):
    """Enumerate every deterministic Markov policy on the states reachable from the start; return the best value."""
    n0, t0 = market.rooms, market.periods
    states = [(n, t) for t in range(1, t0 + 1) for n in range(max(1, n0 - (t0 - t)), n0 + 1)]
    actions = (*market.price_grid, CLOSE)
    best = -math.inf
    for choice in itertools.product(actions, repeat=len(states)):
        policy = dict(zip(states, choice, strict=True))

        def evaluate(n, t, policy=policy):
            if t == 0 or n == 0:
                return n * market.nights * market.salvage
            sold, revenue = _step(market, policy[(n, t)], n)
            return sold * (revenue + evaluate(n - 1, t - 1)) + (1 - sold) * evaluate(n, t - 1)

        best = max(best, evaluate(n0, t0))
    return best


@pytest.mark.parametrize("market", SMALL_GRID_MARKETS)
def test_value_and_block_cost_match_exhaustive_expectimax_in_every_state(market):
    for n in range(market.rooms + 1):
        for t in range(market.periods + 1):
            assert expected_revenue(market, n, t) == pytest.approx(_expectimax(market, n, t), rel=1e-12)
            for block in range(n + 1):
                forgone = _expectimax(market, n, t) - _expectimax(market, n - block, t)
                assert block_opportunity_cost(market, block, n, t) == pytest.approx(forgone, abs=1e-9)


def test_small_instances_exercise_price_switches_and_closing():
    policies = [
        {optimal_price(m, n, t) for n in range(1, 4) for t in range(1, 5)} for m in SMALL_GRID_MARKETS
    ]
    assert policies == [{70.0, 180.0}, {80.0, 180.0}, {math.inf}]


@pytest.mark.parametrize("market", SMALL_GRID_MARKETS)
def test_value_matches_the_best_deterministic_markov_policy(market):
    assert expected_revenue(market) == pytest.approx(_best_markov_policy_value(market), rel=1e-12)


# -- the closed-form price ---------------------------------------------------------------------------------------
def test_closed_form_price_maximises_the_bellman_objective_and_beats_any_grid():
    market = HotelMarket(
        rooms=6, periods=20, arrival_probability=0.7, rack_rate=120.0, nights=3, salvage=20.0
    )
    for n, t in [(1, 1), (2, 10), (6, 20), (3, 5)]:
        row = value_table(market)[t - 1]

        def bellman(price, n=n, row=row):
            sold = market.booking_probability(price)
            return sold * (market.nights * price + row[n - 1]) + (1 - sold) * row[n]

        best = optimal_price(market, n, t)
        assert bellman(best) == pytest.approx(expected_revenue(market, n, t), rel=1e-12)
        assert all(bellman(best) >= bellman(best * (1 + step / 1000)) for step in range(-500, 500))
    fine = replace(market, price_grid=tuple(float(p) for p in range(60, 1000)))
    coarse = replace(market, price_grid=(100.0, 200.0, 300.0))
    assert expected_revenue(coarse) < expected_revenue(fine) <= expected_revenue(market)
    assert expected_revenue(fine) == pytest.approx(expected_revenue(market), rel=1e-4)


def test_simulating_the_optimal_prices_earns_the_value():
    market = HotelMarket(
        rooms=3, periods=12, arrival_probability=0.6, rack_rate=100.0, nights=2, salvage=10.0
    )
    rng, revenues = random.Random(7), []
    for _ in range(20_000):
        rooms, revenue = market.rooms, 0.0
        for t in range(market.periods, 0, -1):
            price = optimal_price(market, rooms, t)
            if rng.random() < market.arrival_probability and rng.expovariate(1 / market.rack_rate) >= price:
                rooms, revenue = rooms - 1, revenue + market.nights * price
            if rooms == 0:
                break
        revenues.append(revenue + rooms * market.nights * market.salvage)
    mean = sum(revenues) / len(revenues)
    spread = math.sqrt(sum((r - mean) ** 2 for r in revenues) / len(revenues))
    assert abs(mean - expected_revenue(market)) < 4 * spread / math.sqrt(len(revenues))


def test_prices_sit_at_the_rack_rate_when_rooms_are_plentiful_and_rise_as_they_get_scarce():
    market = HotelMarket(rooms=60, periods=30, arrival_probability=0.8, rack_rate=150.0, nights=2)
    assert optimal_price(market, 60, 30) == pytest.approx(150.0, rel=1e-6)
    prices = [optimal_price(market, n, 30) for n in range(1, 61)]
    assert all(a >= b for a, b in itertools.pairwise(prices)) and prices[0] > 1.5 * 150.0


# -- structure ---------------------------------------------------------------------------------------------------
markets = st.builds(
    HotelMarket,
    rooms=st.integers(1, 12),
    periods=st.integers(1, 30),
    arrival_probability=st.floats(0.05, 1.0),
    rack_rate=st.floats(20.0, 500.0),
    nights=st.integers(1, 5),
    salvage=st.floats(0.0, 100.0),
    price_grid=st.one_of(st.just(()), st.lists(st.floats(10.0, 800.0), min_size=1, max_size=5).map(tuple)),
)


@settings(max_examples=150, deadline=None)
@given(market=markets)
def test_boundaries_and_monotone_value(market):
    table, tolerance = value_table(market), 1e-9 * market.rack_rate * market.nights
    assert all(row[0] == 0.0 for row in table)
    assert table[0] == pytest.approx([n * market.nights * market.salvage for n in range(market.rooms + 1)])
    for t in range(market.periods + 1):
        for n in range(market.rooms + 1):
            if n:
                assert table[t][n] >= table[t][n - 1] - tolerance  # more rooms never hurt
            if t:
                assert table[t][n] >= table[t - 1][n] - tolerance  # more time never hurts


@settings(max_examples=150, deadline=None)
@given(market=markets, block=st.integers(1, 12))
def test_opportunity_cost_falls_as_time_runs_out_and_rises_as_rooms_get_scarce(market, block):
    """The block's cost is a sum of marginal room values, which grow with time left and shrink with inventory."""
    tolerance = 1e-9 * market.rack_rate * market.nights
    for t in range(market.periods + 1):
        for n in range(block, market.rooms + 1):
            cost = block_opportunity_cost(market, block, n, t)
            assert cost >= block * market.nights * market.salvage - tolerance
            if t:
                assert cost >= block_opportunity_cost(market, block, n, t - 1) - tolerance
            if n > block:
                assert cost <= block_opportunity_cost(market, block, n - 1, t) + tolerance


def test_opportunity_cost_strictly_moves_with_time_and_scarcity():
    market = HotelMarket(rooms=50, periods=240, arrival_probability=0.7, rack_rate=120.0, nights=3)
    by_time = [block_opportunity_cost(market, 20, 40, t) for t in (240, 120, 60, 0)]
    by_rooms = [block_opportunity_cost(market, 10, n, 120) / 10 for n in (20, 30, 40, 50)]
    assert all(a > b for a, b in itertools.pairwise(by_time)) and by_time[-1] == 0.0
    assert all(a > b for a, b in itertools.pairwise(by_rooms))


def test_euro_magnitudes_of_a_twenty_room_three_night_block():
    """20 rooms x 3 nights around 120 EUR: thousands of EUR for a scarce hotel, about salvage for an empty one."""
    operator = TourOperator(resale_rate=150.0, other_costs_share=0.25)
    assert operator.block_value(20, 3) == pytest.approx(6750.0)
    scarce = HotelMarket(rooms=40, periods=240, arrival_probability=0.7, rack_rate=120.0, nights=3)
    assert 3000 < block_opportunity_cost(scarce, 20) < 15000
    empty = HotelMarket(
        rooms=150, periods=60, arrival_probability=0.5, rack_rate=120.0, nights=3, salvage=30.0
    )
    assert block_opportunity_cost(empty, 20) == pytest.approx(20 * 3 * 30.0, rel=1e-3)


def test_a_large_market_solves_well_under_a_second():
    market = HotelMarket(
        rooms=200, periods=365, arrival_probability=0.6, rack_rate=140.0, nights=2, salvage=1.0
    )
    start = time.perf_counter()
    value_table(market)
    assert time.perf_counter() - start < 1.0


def test_invalid_inputs_are_rejected():
    market = HotelMarket(rooms=5, periods=5, arrival_probability=0.5, rack_rate=100.0)
    for bad in (dict(arrival_probability=0.0), dict(rack_rate=0.0), dict(nights=0), dict(price_grid=(-1.0,))):
        with pytest.raises(ValueError):
            replace(market, **bad)
    with pytest.raises(ValueError, match="does not fit"):
        block_opportunity_cost(market, 6)
    with pytest.raises(ValueError, match="outside"):
        expected_revenue(market, 6, 5)
    with pytest.raises(ValueError, match="smallest block"):
        RoomBlockSpec(inventory=(5, 10), block_rooms=(6, 8))


# -- draws and the posted-price baseline -------------------------------------------------------------------------
def test_draws_are_deterministic_given_the_seed():
    first = [draw_room_block(random.Random(3)) for _ in range(2)]
    assert first[0] == first[1]
    assert draw_room_block(random.Random(3)) != draw_room_block(random.Random(4))
    streams = [random.Random(3), random.Random(3)]
    assert [draw_room_block(streams[0]) for _ in range(20)] == [
        draw_room_block(streams[1]) for _ in range(20)
    ]


def test_draws_are_consistent_and_context_is_only_public():
    spec, rng = RoomBlockSpec(), random.Random(0)
    draws = [draw_room_block(rng, spec) for _ in range(300)]
    for draw in draws:
        facts = draw.context
        assert set(facts) == {"block_rooms", "nights", "days_to_arrival", "rack_rate"}
        assert spec.block_rooms[0] <= facts["block_rooms"] <= draw.market.rooms <= spec.inventory[1]
        assert draw.market.periods == facts["days_to_arrival"] * spec.periods_per_day
        assert draw.buyer_value == pytest.approx(
            draw.operator.block_value(facts["block_rooms"], facts["nights"]), abs=0.01
        )
        assert draw.seller_cost == pytest.approx(
            block_opportunity_cost(draw.market, facts["block_rooms"]), abs=0.01
        )
        assert draw.buyer_value > 0 and draw.seller_cost > 0
    zone = sum(d.buyer_value > d.seller_cost for d in draws) / len(draws)
    assert 0.6 < zone < 0.95  # mostly worth trading, but not always


def test_posted_price_trades_only_when_both_sides_accept():
    draw = draw_room_block(random.Random(1))
    quote = draw.context["rack_rate"] * draw.context["block_rooms"] * draw.context["nights"]
    inside = posted_price_baseline(replace(draw, buyer_value=quote * 1.2, seller_cost=quote * 0.5))
    assert inside.trade and inside.price == pytest.approx(quote) and inside.efficiency == 1.0
    too_dear = posted_price_baseline(replace(draw, buyer_value=quote * 0.9, seller_cost=quote * 0.5))
    assert not too_dear.trade and too_dear.efficiency == 0.0
    assert posted_price_baseline(replace(draw, buyer_value=quote * 0.9, seller_cost=quote * 0.5), 0.2).trade
    below_cost = posted_price_baseline(replace(draw, buyer_value=quote * 2, seller_cost=quote * 1.1))
    assert not below_cost.trade and below_cost.available_gains == pytest.approx(quote * 0.9)
    no_gains = posted_price_baseline(replace(draw, buyer_value=quote * 0.4, seller_cost=quote * 0.5))
    assert no_gains.efficiency is None


def test_posted_price_efficiency_over_many_draws_is_partial():
    rng = random.Random(2)
    outcomes = [posted_price_baseline(draw_room_block(rng), discount=0.2) for _ in range(300)]
    efficiency = sum(o.realised_gains for o in outcomes) / sum(o.available_gains for o in outcomes)
    assert 0.3 < efficiency < 1.0
    assert all(o.realised_gains >= 0 for o in outcomes)
