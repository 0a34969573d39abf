"""Reference points from bargaining theory, to set beside what LLMs achieve on the same scenarios.

A buyer with private value v and a seller with private cost c trade one item; both values come from a common prior,
uniform on the support [low, high] unless stated otherwise. Two kinds of numbers:

* closed forms for independent U[low, high]²: ratios (efficiency, trade probability, surplus shares) do not depend
  on the support, expected gains and surpluses scale with its width;
* Monte Carlo on the very scenario draws the models played, so that models and reference points share their luck.
  Each mechanism's rule is fixed before the draws are seen: a posted price and take-it-or-leave-it offers optimal
  under the config's prior (`eval.second_best`, which also computes the second-best for that prior), never
  optimised on the draws they are scored on.

Sources: Nash (1950) and its generalised weights; Myerson and Satterthwaite (1983); the k-double auction of
Chatterjee and Samuelson (1983); Peski (2023), "Bargaining with mechanisms and two-sided incomplete information", for
random-proposer monopoly payoffs; Drakos's study of LLM-mediated bilateral trade for the disclosure rate α. Only
that study's abstract is at hand, so its three behavioural modes are defined precisely here (`disclosure_outcomes`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats as scipy_stats

AlphaMode = Literal["binary", "continuous", "noisy"]
ALPHA_MODES: tuple[AlphaMode, ...] = ("binary", "continuous", "noisy")
DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)

FIRST_BEST_GAINS = 1 / 6  # E[max(v - c, 0)] for independent U[0, 1] values
CS_EFFICIENCY = 27 / 32  # Chatterjee–Samuelson at k = 1/2: 9/64 of 1/6 (for U[0, 1]² also the second-best)
POSTED_PRICE_EFFICIENCY = 3 / 4  # best single price 1/2: gains 1/8
RANDOM_MONOPOLY_EFFICIENCY = 3 / 4  # either side's monopoly offer leaves a quarter of the gains unrealised

Array = np.ndarray

# Each Monte Carlo benchmark's closed-form counterpart in `uniform_benchmarks`.
UNIFORM_COUNTERPART = {
    "first_best": "first_best",
    "nash_bargaining": "nash_bargaining",
    "chatterjee_samuelson": "chatterjee_samuelson",
    "best_posted_price": "best_posted_price",
    "random_proposer": "random_proposer",
}


@dataclass(frozen=True)
class Benchmark:
    """One mechanism's outcome in aggregate. Efficiency is realised over first-best gains; surplus shares are each
    side's total surplus over the total available gains (so buyer_share + seller_share = efficiency where the
    mechanism sets prices, and both are None where it only says whether trade happens). Money is in the units of
    the support (a currency, or prior widths). `draws` is None for a closed form, whose numbers are exact."""

    name: str
    efficiency: float | None
    trade_rate: float
    buyer_share: float | None
    seller_share: float | None
    mean_gains: float
    mean_buyer_surplus: float | None
    mean_seller_surplus: float | None
    draws: int | None = None
    efficiency_ci: tuple[float, float] | None = None
    mean_gains_ci: tuple[float, float] | None = None
    price: float | None = None  # the single price, for a posted price
    # each side's mean per-draw share over draws with gains (no trade = 0): the estimand of a model's
    # unconditional share, so reference lines beside a model's points use these
    buyer_share_per_draw: float | None = None
    seller_share_per_draw: float | None = None
    # the pooled shares' intervals (delta method, as efficiency's): the reference of a model's pooled share
    buyer_share_ci: tuple[float, float] | None = None
    seller_share_ci: tuple[float, float] | None = None


@dataclass(frozen=True)
class DrawOutcomes:
    """What a mechanism does on each draw. `trade` is a probability where the mechanism randomises (random
    proposer, disclosure); surpluses and price are None where the mechanism leaves the split open, and the price
    is NaN on draws without trade."""

    trade: Array
    gains: Array
    buyer_surplus: Array | None = None
    seller_surplus: Array | None = None
    price: Array | None = None


# ---------------------------------------------------------------------------------------------------------------
# Closed forms for independent U[low, high]²


def _closed_form(
    name: str, low: float, high: float, trade: float, gains: float, buyer: float | None, seller: float | None
) -> Benchmark:
    """Package unit-square expectations, scaling money by the support's width."""
    width = _width(low, high)
    return Benchmark(
        name=name,
        efficiency=gains / FIRST_BEST_GAINS,
        trade_rate=trade,
        buyer_share=None if buyer is None else buyer / FIRST_BEST_GAINS,
        seller_share=None if seller is None else seller / FIRST_BEST_GAINS,
        mean_gains=width * gains,
        mean_buyer_surplus=None if buyer is None else width * buyer,
        mean_seller_surplus=None if seller is None else width * seller,
    )


def first_best_uniform(low: float = 0.0, high: float = 1.0) -> Benchmark:
    """Trade exactly when v > c: probability 1/2, gains 1/6 of the width. No price, so no split."""
    return _closed_form("first_best", low, high, 1 / 2, FIRST_BEST_GAINS, None, None)


def nash_bargaining_uniform(low: float = 0.0, high: float = 1.0, buyer_weight: float = 0.5) -> Benchmark:
    """Complete-information (generalised) Nash bargaining: efficient trade, the buyer keeps `buyer_weight`."""
    buyer = buyer_weight * FIRST_BEST_GAINS
    return _closed_form(
        "nash_bargaining", low, high, 1 / 2, FIRST_BEST_GAINS, buyer, FIRST_BEST_GAINS - buyer
    )


def chatterjee_samuelson_uniform(low: float = 0.0, high: float = 1.0, k: float = 0.5) -> Benchmark:
    """Linear equilibrium of the k-double auction. Trade happens iff v >= (1+k)/(2-k)·c + (1-k)/2 (on [0, 1]),
    a triangle with probability (2-k)(1+k)/8 and gains (2-k)(1+k)/16; the buyer expects (2-k)(1+k)²/48 and
    the seller (2-k)²(1+k)/48. At k = 1/2: v >= c + 1/4, probability 9/32, gains 9/64 (efficiency 27/32)."""
    _check_k(k)
    trade = (2 - k) * (1 + k) / 8
    buyer, seller = (2 - k) * (1 + k) ** 2 / 48, (2 - k) ** 2 * (1 + k) / 48
    return _closed_form("chatterjee_samuelson", low, high, trade, trade / 2, buyer, seller)


def posted_price_uniform(low: float = 0.0, high: float = 1.0, price: float | None = None) -> Benchmark:
    """A single take-it-or-leave-it price p for both sides; trade iff c <= p <= v. At position q = (p-low)/width:
    probability q(1-q), buyer q(1-q)²/2, seller q²(1-q)/2. Gains q(1-q)/2 peak at the midpoint: 1/8, 3/4 of
    first-best, split equally."""
    width = _width(low, high)
    price = (low + high) / 2 if price is None else price
    q = float(np.clip((price - low) / width, 0, 1))
    buyer, seller = q * (1 - q) ** 2 / 2, q**2 * (1 - q) / 2
    benchmark = _closed_form("best_posted_price", low, high, q * (1 - q), buyer + seller, buyer, seller)
    return _replace(benchmark, price=price)


def random_proposer_uniform(low: float = 0.0, high: float = 1.0, buyer_proposes: float = 0.5) -> Benchmark:
    """Random-proposer take-it-or-leave-it (Peski's random monopoly). The buyer proposes p = (v + low)/2, which
    maximises (v - p)·P(c <= p); the seller proposes p = (c + high)/2, which maximises (p - c)·P(v >= p). Either
    way trade has probability 1/4 and gains 1/8; the proposer expects 1/12 and the responder 1/24."""
    if not 0 <= buyer_proposes <= 1:
        raise ValueError("buyer_proposes must be a probability")
    buyer = buyer_proposes / 12 + (1 - buyer_proposes) / 24
    seller = buyer_proposes / 24 + (1 - buyer_proposes) / 12
    return _closed_form("random_proposer", low, high, 1 / 4, 1 / 8, buyer, seller)


def buyer_offers_uniform(buyer_values: Array, low: float, high: float) -> Array:
    """The buyer's monopsony price under a uniform prior on the seller's cost: argmax (v - p)(p - low)."""
    return (np.asarray(buyer_values, dtype=float) + low) / 2


def seller_offers_uniform(seller_costs: Array, low: float, high: float) -> Array:
    """The seller's monopoly price under a uniform prior on the buyer's value: argmax (p - c)(high - p)."""
    return (np.asarray(seller_costs, dtype=float) + high) / 2


def uniform_benchmarks(low: float = 0.0, high: float = 1.0, k: float = 0.5) -> dict[str, Benchmark]:
    """Every closed form at once, keyed like the Monte Carlo benchmarks of `benchmarks_for`."""
    return {
        "first_best": first_best_uniform(low, high),
        "nash_bargaining": nash_bargaining_uniform(low, high),
        "chatterjee_samuelson": chatterjee_samuelson_uniform(low, high, k),
        "best_posted_price": posted_price_uniform(low, high),
        "random_proposer": random_proposer_uniform(low, high),
    }


# ---------------------------------------------------------------------------------------------------------------
# Each mechanism on given draws


def first_best_outcomes(buyer_values: Array, seller_costs: Array) -> DrawOutcomes:
    v, c = _draws(buyer_values, seller_costs)
    return DrawOutcomes(trade=(v > c).astype(float), gains=np.maximum(v - c, 0.0))


def trade_at_prices(buyer_values: Array, seller_costs: Array, prices: Array | float) -> DrawOutcomes:
    """Trade at a proposed price iff both sides gain (c <= p <= v): posted prices and take-it-or-leave-it offers
    alike. A NaN price means no offer worth making."""
    v, c = _draws(buyer_values, seller_costs)
    price = np.broadcast_to(np.asarray(prices, dtype=float), v.shape)
    trade = (c <= price) & (price <= v)
    return _priced(v, c, trade, np.where(trade, price, np.nan))


def nash_bargaining_outcomes(
    buyer_values: Array, seller_costs: Array, buyer_weight: float = 0.5
) -> DrawOutcomes:
    """Trade whenever v > c at p = v - β(v - c), so the buyer keeps a share β of the gains (β = 1/2: (v+c)/2)."""
    if not 0 <= buyer_weight <= 1:
        raise ValueError("buyer_weight must be in [0, 1]")
    v, c = _draws(buyer_values, seller_costs)
    trade = v > c
    return _priced(v, c, trade, np.where(trade, v - buyer_weight * (v - c), np.nan))


def chatterjee_samuelson_outcomes(
    buyer_values: Array, seller_costs: Array, low: float, high: float, k: float = 0.5
) -> DrawOutcomes:
    """The k-double auction played with the linear equilibrium for a uniform prior on [low, high]. On [0, 1] the
    buyer bids b(v) = v/(1+k) + k(1-k)/(2(1+k)), the seller asks s(c) = c/(2-k) + (1-k)/2; they trade iff b >= s,
    at k·b + (1-k)·s. Bids are mapped affinely onto the support."""
    _check_k(k)
    v, c = _draws(buyer_values, seller_costs)
    width = _width(low, high)
    bid = v / (1 + k) + width * k * (1 - k) / (2 * (1 + k)) + low * k / (1 + k)
    ask = c / (2 - k) + width * (1 - k) / 2 + low * (1 - k) / (2 - k)
    trade = bid >= ask
    return _priced(v, c, trade, np.where(trade, k * bid + (1 - k) * ask, np.nan))


def random_proposer_outcomes(
    buyer_values: Array,
    seller_costs: Array,
    low: float,
    high: float,
    *,
    buyer_proposes: float = 0.5,
    offers: tuple[Array, Array] | None = None,
) -> DrawOutcomes:
    """Random-proposer take-it-or-leave-it: with probability `buyer_proposes` the buyer makes its monopsony offer,
    otherwise the seller makes its monopoly offer. `offers` are each side's offers on an evenly spaced grid of
    its own positions on the unit prior (`eval.second_best.monopoly_offers`, optimal under the true conditional
    prior); None means the offers for independent uniform values. Outcomes are expectations over the coin."""
    if not 0 <= buyer_proposes <= 1:
        raise ValueError("buyer_proposes must be a probability")
    v, c = _draws(buyer_values, seller_costs)
    if offers is None:
        buyer_prices, seller_prices = buyer_offers_uniform(v, low, high), seller_offers_uniform(c, low, high)
    else:
        width = _width(low, high)
        grid = (np.arange(len(offers[0])) + 0.5) / len(offers[0])
        buyer_prices = low + width * np.interp((v - low) / width, grid, offers[0])
        seller_prices = low + width * np.interp((c - low) / width, grid, offers[1])
    buyer_turn, seller_turn = trade_at_prices(v, c, buyer_prices), trade_at_prices(v, c, seller_prices)

    def mix(first: Array | None, second: Array | None) -> Array:
        assert first is not None and second is not None  # trade_at_prices always prices its trades
        return buyer_proposes * first + (1 - buyer_proposes) * second

    return DrawOutcomes(
        trade=mix(buyer_turn.trade, seller_turn.trade),
        gains=mix(buyer_turn.gains, seller_turn.gains),
        buyer_surplus=mix(buyer_turn.buyer_surplus, seller_turn.buyer_surplus),
        seller_surplus=mix(buyer_turn.seller_surplus, seller_turn.seller_surplus),
    )


# ---------------------------------------------------------------------------------------------------------------
# Efficiency in the disclosure rate α (Drakos), against k = 1/2 double-auction play


def disclosure_outcomes(
    buyer_values: Array, seller_costs: Array, low: float, high: float, alpha: float, mode: AlphaMode
) -> DrawOutcomes:
    """Trade and gains on each draw when traders disclose their private values at rate α ∈ [0, 1]; α = 0 is
    Chatterjee–Samuelson play at k = 1/2 (trade iff v - c >= width/4), α = 1 is first-best. The modes:

    binary      each side independently discloses its value truthfully with probability α. If both disclose
                (probability α²) they trade efficiently; otherwise they play Chatterjee–Samuelson.
    continuous  a share α of each side's private information becomes common knowledge, so what stays private
                is a prior (1-α) as wide. In reduced form, the Chatterjee–Samuelson wedge (a quarter of the
                private prior's width) shrinks with it: trade iff v - c >= (1-α)·width/4.
    noisy       each side discloses with probability α, as in binary, but a disclosure is heard with independent
                uniform noise of half-width (1-α)/2 of the prior width. If both disclose they trade iff the heard
                value exceeds the heard cost (noise can make them trade at a loss); otherwise they play
                Chatterjee–Samuelson. Precision and frequency rise together, so noise vanishes at α = 1.

    Disclosure says nothing about the price, so surpluses are left open (None).
    """
    if not 0 <= alpha <= 1:
        raise ValueError("alpha must be in [0, 1]")
    v, c = _draws(buyer_values, seller_costs)
    width = _width(low, high)
    surplus = v - c
    second_best = chatterjee_samuelson_outcomes(v, c, low, high, k=0.5).trade
    if mode == "binary":
        trade = alpha**2 * (surplus > 0) + (1 - alpha**2) * second_best
    elif mode == "continuous":
        trade = (surplus >= (1 - alpha) * width / 4).astype(float)
    elif mode == "noisy":
        heard_gains = _difference_of_uniforms_cdf(surplus / width, half_width=(1 - alpha) / 2)
        trade = alpha**2 * heard_gains + (1 - alpha**2) * second_best
    else:
        raise ValueError(f"unknown disclosure mode {mode!r}; known: {ALPHA_MODES}")
    return DrawOutcomes(trade=trade, gains=trade * surplus)


def alpha_efficiency(alpha: float, mode: AlphaMode) -> float:
    """Closed-form efficiency at disclosure rate α for independent uniform values (see `disclosure_outcomes`):

    binary      27/32 + (5/32)·α²
    continuous  1 - 3m² + 2m³ with wedge m = (1-α)/4 (gains ∫_m^1 t(1-t) dt over the density 1-t of v - c)
    noisy       α²·(1 - 2h² + 8h³/5) + (1-α²)·27/32 with noise half-width h = (1-α)/2

    All three equal 27/32 at α = 0 and 1 at α = 1; noisy dips below 27/32 for small α (about 0.841 at α = 1/4),
    because noisy disclosures trigger trades that lose value.
    """
    if not 0 <= alpha <= 1:
        raise ValueError("alpha must be in [0, 1]")
    if mode == "binary":
        return CS_EFFICIENCY + (1 - CS_EFFICIENCY) * alpha**2
    if mode == "continuous":
        wedge = (1 - alpha) / 4
        return 1 - 3 * wedge**2 + 2 * wedge**3
    if mode == "noisy":
        half_width = (1 - alpha) / 2
        heard = 1 - 2 * half_width**2 + 8 * half_width**3 / 5
        return alpha**2 * heard + (1 - alpha**2) * CS_EFFICIENCY
    raise ValueError(f"unknown disclosure mode {mode!r}; known: {ALPHA_MODES}")


# ---------------------------------------------------------------------------------------------------------------
# From per-draw outcomes to reported numbers


def summarise_mechanism(
    name: str,
    outcomes: DrawOutcomes,
    buyer_values: Array,
    seller_costs: Array,
    *,
    confidence: float = 0.95,
    price: float | None = None,
) -> Benchmark:
    """Aggregate per-draw outcomes, with normal-approximation intervals: the mean gains from their standard
    error, efficiency and the pooled shares (ratios of means) by the delta method. Intervals cover the draw-to-draw noise only; a price
    chosen on the same draws (`best_posted_price`) is optimistic on top (see `monte_carlo_benchmarks`)."""
    v, c = _draws(buyer_values, seller_costs)
    available = np.maximum(v - c, 0.0)
    draws, total_available = len(v), float(available.sum())
    z = float(scipy_stats.norm.ppf(0.5 + confidence / 2))
    mean_gains = float(outcomes.gains.mean())
    gains_ci = None
    if draws > 1:
        half = z * float(outcomes.gains.std(ddof=1)) / math.sqrt(draws)
        gains_ci = (mean_gains - half, mean_gains + half)

    def ratio(part: Array | None) -> tuple[float | None, tuple[float, float] | None]:
        """Σ part / Σ available gains, with its delta-method interval (a ratio of means)."""
        if part is None or total_available <= 0:
            return None, None
        value = float(part.sum()) / total_available
        if draws < 2:
            return value, None
        residual = part - value * available
        half = z * float(residual.std(ddof=1)) / math.sqrt(draws) / float(available.mean())
        return value, (value - half, value + half)

    efficiency, efficiency_ci = ratio(outcomes.gains)
    (buyer_share, buyer_share_ci), (seller_share, seller_share_ci) = (
        ratio(outcomes.buyer_surplus),
        ratio(outcomes.seller_surplus),
    )

    def per_draw(surplus: Array | None) -> float | None:
        with_gains = available > 0
        return (
            None
            if surplus is None or not with_gains.any()
            else float((surplus / np.where(with_gains, available, 1))[with_gains].mean())
        )

    return Benchmark(
        name=name,
        efficiency=efficiency,
        trade_rate=float(outcomes.trade.mean()),
        buyer_share=buyer_share,
        seller_share=seller_share,
        mean_gains=mean_gains,
        mean_buyer_surplus=None if outcomes.buyer_surplus is None else float(outcomes.buyer_surplus.mean()),
        mean_seller_surplus=None
        if outcomes.seller_surplus is None
        else float(outcomes.seller_surplus.mean()),
        draws=draws,
        efficiency_ci=None if efficiency_ci is None else _unit_interval(efficiency_ci),
        mean_gains_ci=gains_ci,
        price=None if price is None or np.isnan(price) else float(price),
        buyer_share_per_draw=per_draw(outcomes.buyer_surplus),
        seller_share_per_draw=per_draw(outcomes.seller_surplus),
        buyer_share_ci=buyer_share_ci,
        seller_share_ci=seller_share_ci,
    )


def monte_carlo_benchmarks(
    buyer_values: Array,
    seller_costs: Array,
    low: float,
    high: float,
    k: float = 0.5,
    *,
    posted_position: float = 0.5,
    offers: tuple[Array, Array] | None = None,
    linear_equilibrium: bool = True,
) -> dict[str, Benchmark]:
    """Every mechanism on the same draws, each with rules fixed before the draws are seen: the posted price at
    `posted_position` of the support and the random proposer's `offers`, both optimal under the prior
    (`eval.second_best`; the defaults are optimal for independent uniform values). The k-double auction's linear
    strategies are played only where they are an equilibrium of the prior (`linear_equilibrium`)."""
    v, c = _draws(buyer_values, seller_costs)
    price = low + posted_position * _width(low, high)
    outcomes = {
        "first_best": first_best_outcomes(v, c),
        "nash_bargaining": nash_bargaining_outcomes(v, c),
        "best_posted_price": trade_at_prices(v, c, price),
        "random_proposer": random_proposer_outcomes(v, c, low, high, offers=offers),
    }
    if linear_equilibrium:
        outcomes["chatterjee_samuelson"] = chatterjee_samuelson_outcomes(v, c, low, high, k)
    return {
        name: summarise_mechanism(name, result, v, c, price=price if name == "best_posted_price" else None)
        for name, result in outcomes.items()
    }


def benchmarks_for(
    buyer_values: Array,
    seller_costs: Array,
    low: float,
    high: float,
    k: float = 0.5,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    disclosure_curves: bool = True,
    **prior_rules: Any,
) -> dict[str, Any]:
    """All reference points for one set of draws, as JSON-ready values: Monte Carlo on the draws, the uniform
    closed forms for the same support, and the disclosure curves at `alphas` (on the draws and in closed form;
    none unless `disclosure_curves`: they start at α = 0 from k = 1/2 double-auction play, which must be an
    equilibrium of the prior drawn)."""
    v, c = _draws(buyer_values, seller_costs)
    disclosure = [
        _disclosure_row(v, c, low, high, alpha, mode)
        for alpha in alphas
        if disclosure_curves
        for mode in ALPHA_MODES
    ]
    return {
        "draws": len(v),
        "support": {"low": float(low), "high": float(high)},
        "k": k,
        "monte_carlo": {
            name: _json_ready(b)
            for name, b in monte_carlo_benchmarks(v, c, low, high, k, **prior_rules).items()
        },
        "uniform": {name: _json_ready(b) for name, b in uniform_benchmarks(low, high, k).items()},
        "disclosure": disclosure,
    }


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _disclosure_row(
    v: Array, c: Array, low: float, high: float, alpha: float, mode: AlphaMode
) -> dict[str, Any]:
    found = summarise_mechanism(mode, disclosure_outcomes(v, c, low, high, alpha, mode), v, c)
    return {
        "alpha": alpha,
        "mode": mode,
        "efficiency": found.efficiency,
        "efficiency_ci": None if found.efficiency_ci is None else list(found.efficiency_ci),
        "trade_rate": found.trade_rate,
        "uniform_efficiency": alpha_efficiency(alpha, mode),
    }


def _unit_interval(interval: tuple[float, float]) -> tuple[float, float]:
    """Efficiency of a mechanism that never trades at a loss lies in [0, 1]; so does its interval."""
    return max(interval[0], 0.0), min(interval[1], 1.0)


def _draws(buyer_values: Array, seller_costs: Array) -> tuple[Array, Array]:
    v, c = np.asarray(buyer_values, dtype=float), np.asarray(seller_costs, dtype=float)
    if v.shape != c.shape or v.ndim != 1 or len(v) == 0:
        raise ValueError(
            "buyer_values and seller_costs must be non-empty one-dimensional arrays of equal length"
        )
    if not (np.isfinite(v).all() and np.isfinite(c).all()):
        raise ValueError("buyer_values and seller_costs must be finite")
    return v, c


def _width(low: float, high: float) -> float:
    if not high > low:
        raise ValueError(f"the support needs high > low, got [{low}, {high}]")
    return high - low


def _check_k(k: float) -> None:
    if not 0 <= k <= 1:
        raise ValueError("k (the buyer's weight in the double-auction price) must be in [0, 1]")


def _priced(v: Array, c: Array, trade: Array, price: Array) -> DrawOutcomes:
    buyer = np.where(trade, v - price, 0.0)
    seller = np.where(trade, price - c, 0.0)
    return DrawOutcomes(trade.astype(float), buyer + seller, buyer, seller, price)


def _replace(benchmark: Benchmark, **changes: Any) -> Benchmark:
    return Benchmark(**{**asdict(benchmark), **changes})


def _json_ready(benchmark: Benchmark) -> dict[str, Any]:
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in asdict(benchmark).items()
    }


def _difference_of_uniforms_cdf(t: Array, half_width: float) -> Array:
    """P(e <= t) for e the difference of two independent U[-h, h] (triangular on [-2h, 2h]); a step at 0 when
    h = 0, with P = 1/2 at the tie."""
    spread = 2 * half_width
    if spread == 0:
        return np.where(t > 0, 1.0, np.where(t < 0, 0.0, 0.5))
    x = np.clip(t, -spread, spread)
    rising = (x + spread) ** 2 / (2 * spread**2)
    return np.where(x <= 0, rising, 1 - (spread - x) ** 2 / (2 * spread**2))
