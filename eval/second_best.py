"""Theory for the prior a config actually draws: the second-best mechanism, the best posted price and random-proposer
offers, all computed for the joint prior of (buyer value v, seller cost c) on the unit square of each deal's public
prior, rather than closed forms that hold only for independent uniform values.

The prior is a probability table on an n×n grid of cells (v and c at cell midpoints), exact for the sampler's value
models: independent uniform, `correlated` (v = w·u0 + (1-w)·u1, c = w·u0 + (1-w)·u2), a forced `no_zone_share`
(which reweights the two halves of the square, so values become correlated), and, for `hotel_room_block`, the
binned positions of an independent sample of the sampler's own deals (the prior pooled over contexts).

The second-best is the ex-ante efficient mechanism among Bayesian incentive-compatible, interim individually
rational and budget-balanced ones (Myerson and Satterthwaite 1983):

* independent priors: by virtual values. Trade iff v - a(1-F(v))/f(v) >= c + a G(c)/g(c) (ironed where not
  monotone), with a in [0, 1] the smallest weight at which the budget E[(φ(v) - ψ(c))·x] >= 0 holds; for U[0, 1]²
  this is v - c >= 1/4, efficiency 27/32;
* any prior: a linear programme over the grid (scipy's HiGHS) in the trade probability x and the buyer's payment
  t to the seller on each cell, with every IC, IR and ex-post budget-balance constraint. Transfers are bounded by
  `TRANSFER_BOUND` prior widths (with correlated values unbounded lotteries could extract almost everything).

Grid error: the same computation on a grid of half the size; the difference is reported beside the value.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from scipy import sparse
from scipy.optimize import linprog

Array = np.ndarray
TRANSFER_BOUND = 10.0  # |payment| in prior widths, keeping the correlated-value LP bounded and well scaled
LP_GRID = 24  # cells per side for the linear programme (its grid error is reported)
FINE_GRID = 480  # cells per side for virtual values, posted prices and offers
PRIOR_SAMPLE = 2000  # deals drawn to bin an empirical prior (hotel room blocks)
PRIOR_SEED = 987_654_321  # never a seed the scored draws use: prices are optimised out of sample


@dataclass(frozen=True)
class UnitPrior:
    """P[i, j] = probability that v lies in cell i and c in cell j of [0, 1] (rows: buyer values)."""

    table: Array
    independent: bool
    source: str

    @property
    def cells(self) -> int:
        return self.table.shape[0]

    @property
    def points(self) -> Array:
        return (np.arange(self.cells) + 0.5) / self.cells

    @property
    def first_best_gains(self) -> float:
        v, c = self.points[:, None], self.points[None, :]
        return float((self.table * np.maximum(v - c, 0)).sum())

    def coarser(self) -> UnitPrior:
        """The same prior on a grid of half as many cells per side (the grid-error check)."""
        half = self.cells // 2
        table = self.table[: 2 * half, : 2 * half].reshape(half, 2, half, 2).sum(axis=(1, 3))
        return UnitPrior(table / table.sum(), self.independent, self.source)


def prior_table(config: SamplerConfig, cells: int) -> UnitPrior:
    """The prior that `config` draws, on a `cells`×`cells` grid of the unit square."""
    if config.value_model == "hotel_room_block":
        return _empirical_prior(config, cells)
    edges = np.linspace(0, 1, cells + 1)
    if config.value_model == "uniform":
        table, source = np.full((cells, cells), 1 / cells**2), "independent uniform"
    else:
        weight = config.correlation
        if weight >= 1:
            raise ValueError("correlation 1 puts v = c on every draw: there are no gains for theory to split")
        shocks = (np.arange(4000) + 0.5) / 4000
        low = weight * shocks[:, None]
        overlap = np.clip(
            np.minimum(edges[None, 1:], low + 1 - weight) - np.maximum(edges[None, :-1], low), 0, None
        )
        cell_given_shock = overlap / (1 - weight)
        table = cell_given_shock.T @ cell_given_shock / len(shocks)
        source = f"correlated values, weight {weight:g}"
    independent = config.value_model == "uniform"
    if config.no_zone_share is not None:
        share = config.no_zone_share
        above = np.triu(np.ones((cells, cells)), 1)  # c above v: no zone of agreement
        table = table * (1 + (2 * share - 1) * above - (2 * share - 1) * above.T)
        independent, source = False, f"{source}, no-zone share {share:g}"
    return UnitPrior(table / table.sum(), independent, source)


@functools.lru_cache(maxsize=8)
def _hotel_positions(hotel_key: str, config_hotel: tuple[tuple[str, object], ...]) -> tuple[Array, Array]:
    config = SamplerConfig(value_model="hotel_room_block", domains=[hotel_key], hotel=dict(config_hotel))
    sampler = ScenarioSampler(config)
    scenarios = sampler.sample(PRIOR_SAMPLE, PRIOR_SEED)
    width = np.array([s.value_high - s.value_low for s in scenarios])
    low = np.array([s.value_low for s in scenarios])
    values = (np.array([s.buyer_value for s in scenarios]) - low) / width
    costs = (np.array([s.seller_cost for s in scenarios]) - low) / width
    return values, costs


def _empirical_prior(config: SamplerConfig, cells: int) -> UnitPrior:
    hotel = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in config.hotel.items()))
    values, costs = _hotel_positions(config.domains[0], hotel)
    table, _, _ = np.histogram2d(
        np.clip(values, 0, 1), np.clip(costs, 0, 1), bins=cells, range=[[0, 1], [0, 1]]
    )
    return UnitPrior(
        table / table.sum(), False, f"room blocks, {PRIOR_SAMPLE} deals binned (pooled contexts)"
    )


# -- the second-best ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SecondBest:
    """The second-best's efficiency (gains over first-best gains under the same prior), its trade probability on
    the grid (rows v, columns c), how it was found, and the change when the grid is halved."""

    efficiency: float
    trade: Array
    method: str
    grid_error: float
    weight: float | None = None  # a, the virtual values' weight, for independent priors


def second_best(prior: UnitPrior) -> SecondBest:
    """Virtual values where the prior is independent, the linear programme otherwise; see the module doc."""
    solve = _virtual_value_mechanism if prior.independent else _lp_mechanism
    if not prior.independent:
        prior = _resample(prior, LP_GRID)
    fine = solve(prior)
    coarse = solve(prior.coarser())
    return SecondBest(fine[0], fine[1], fine[2], abs(fine[0] - coarse[0]), fine[3])


def _virtual_value_mechanism(prior: UnitPrior) -> tuple[float, Array, str, float]:
    """Myerson–Satterthwaite on the grid: bisect the weight a until the trade rule's budget just balances."""
    f, g = prior.table.sum(axis=1), prior.table.sum(axis=0)
    points, step = prior.points, 1 / prior.cells
    upper_tail = 1 - np.cumsum(f) + f / 2  # 1 - F at each cell's midpoint
    lower_tail = np.cumsum(g) - g / 2  # G at each cell's midpoint
    buyer_rent = upper_tail * step / np.maximum(f, 1e-300)
    seller_rent = lower_tail * step / np.maximum(g, 1e-300)

    def rule(a: float) -> Array:
        buyer = _ironed(points - a * buyer_rent, f)
        seller = -_ironed(-(points + a * seller_rent)[::-1], g[::-1])[::-1]
        return (buyer[:, None] >= seller[None, :]).astype(float)

    def budget(a: float) -> float:
        virtual = (points - buyer_rent)[:, None] - (points + seller_rent)[None, :]
        return float((prior.table * virtual * rule(a)).sum())

    low, high = 0.0, 1.0
    if budget(low) < 0:
        for _ in range(50):
            middle = (low + high) / 2
            low, high = (middle, high) if budget(middle) < 0 else (low, middle)
    else:
        high = 0.0
    trade = rule(high)
    gains = points[:, None] - points[None, :]
    efficiency = float((prior.table * gains * trade).sum()) / prior.first_best_gains
    return efficiency, trade, "virtual values (Myerson–Satterthwaite)", high


def _ironed(virtual: Array, mass: Array) -> Array:
    """Myerson's ironing: the slope of the lower convex hull of cumulative virtual value against cumulative mass,
    so that the trade rule stays monotone where the raw virtual value is not."""
    cumulative_mass = np.concatenate([[0.0], np.cumsum(mass)])
    cumulative_value = np.concatenate([[0.0], np.cumsum(virtual * mass)])
    hull = [0]
    for index in range(1, len(cumulative_mass)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (cumulative_mass[b] - cumulative_mass[a]) * (
                cumulative_value[index] - cumulative_value[a]
            ) - (cumulative_value[b] - cumulative_value[a]) * (cumulative_mass[index] - cumulative_mass[a])
            if cross > 0:
                break
            hull.pop()
        hull.append(index)
    ironed = np.empty_like(virtual)
    for a, b in zip(hull[:-1], hull[1:], strict=True):
        span = cumulative_mass[b] - cumulative_mass[a]
        slope = (cumulative_value[b] - cumulative_value[a]) / span if span > 0 else virtual[a]
        ironed[a:b] = slope
    return ironed


def _lp_mechanism(prior: UnitPrior) -> tuple[float, Array, str, float | None]:
    """Maximise E[(v - c)·x] over x[i, j] in [0, 1] and payments t[i, j] (buyer to seller) subject to the buyer's
    and the seller's interim IC and IR constraints; budget balance holds cell by cell."""
    table, n = prior.table, prior.cells
    points = (np.arange(n) + 0.5) / n
    cells = n * n
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    bounds_rhs: list[float] = []

    def add(entries: list[tuple[Array, Array]], rhs: float = 0.0) -> None:
        """One `<=` row: entries are (variable indices, coefficients)."""
        index = len(bounds_rhs)
        for variables, coefficients in entries:
            rows.extend([index] * len(variables))
            cols.extend(variables.tolist())
            data.extend(coefficients.tolist())
        bounds_rhs.append(rhs)

    line = np.arange(n)
    for i in range(n):  # buyer of value v_i; utility of reporting k: Σ_j P[i, j](v_i x[k, j] - t[k, j])
        weights = table[i]
        if weights.sum() <= 0:
            continue
        own_x, own_t = i * n + line, cells + i * n + line
        add([(own_x, -points[i] * weights), (own_t, weights)])  # IR
        for k in range(n):
            if k != i:
                lie_x, lie_t = k * n + line, cells + k * n + line
                add(
                    [
                        (own_x, -points[i] * weights),
                        (own_t, weights),
                        (lie_x, points[i] * weights),
                        (lie_t, -weights),
                    ]
                )
    for j in range(n):  # seller of cost c_j; utility of reporting k: Σ_i P[i, j](t[i, k] - c_j x[i, k])
        weights = table[:, j]
        if weights.sum() <= 0:
            continue
        own_x, own_t = line * n + j, cells + line * n + j
        add([(own_t, -weights), (own_x, points[j] * weights)])  # IR
        for k in range(n):
            if k != j:
                lie_x, lie_t = line * n + k, cells + line * n + k
                add(
                    [
                        (own_t, -weights),
                        (own_x, points[j] * weights),
                        (lie_t, weights),
                        (lie_x, -points[j] * weights),
                    ]
                )
    matrix = sparse.csr_matrix((data, (rows, cols)), shape=(len(bounds_rhs), 2 * cells))
    gains = (table * (points[:, None] - points[None, :])).ravel()
    bounds = [(0, 1)] * cells + [(-TRANSFER_BOUND, TRANSFER_BOUND)] * cells
    result = linprog(-np.concatenate([gains, np.zeros(cells)]), A_ub=matrix, b_ub=np.array(bounds_rhs),
                     bounds=bounds, method="highs")  # fmt: skip
    if result.status != 0:
        raise RuntimeError(f"the second-best linear programme failed: {result.message}")
    first_best = float((table * np.maximum(points[:, None] - points[None, :], 0)).sum())
    trade = result.x[:cells].reshape(n, n)
    return -float(result.fun) / first_best, trade, f"linear programme on a {n}×{n} grid (HiGHS)", None


def _resample(prior: UnitPrior, cells: int) -> UnitPrior:
    factor = prior.cells // cells
    if prior.cells % cells:
        raise ValueError(f"a {prior.cells}-cell prior does not aggregate onto {cells} cells")
    table = prior.table.reshape(cells, factor, cells, factor).sum(axis=(1, 3))
    return UnitPrior(table, prior.independent, prior.source)


# -- simple mechanisms under the prior ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Offers:
    """A mechanism judged under the prior: efficiency, and each side's expected share of the available gains as a
    mean of per-draw shares over draws with gains (no trade = 0), the estimand of a model's unconditional share."""

    efficiency: float
    buyer_share: float
    seller_share: float


def posted_price(prior: UnitPrior) -> tuple[float, Offers]:
    """The single price (a position on the unit prior) that maximises expected gains, and its outcome."""
    n = prior.cells
    candidates = np.arange(n + 1) / n
    gains = np.array([_priced(prior, np.full(n, p), np.full(n, p)).efficiency for p in candidates])
    best = float(candidates[int(np.argmax(gains))])
    return best, _priced(prior, np.full(n, best), np.full(n, best))


def monopoly_offers(prior: UnitPrior) -> tuple[Array, Array]:
    """Each type's take-it-or-leave-it offer against the other side's conditional prior: the buyer of value v
    offers argmax_p (v - p)·P(c <= p | v), the seller of cost c offers argmax_p (p - c)·P(v >= p | c). Offers sit on
    cell edges; rows without mass offer their own value."""
    n, points = prior.cells, prior.points
    edges = np.arange(n + 1) / n
    rows = prior.table / np.maximum(prior.table.sum(axis=1, keepdims=True), 1e-300)
    columns = prior.table / np.maximum(prior.table.sum(axis=0, keepdims=True), 1e-300)
    accept_buyer = np.concatenate([np.zeros((n, 1)), np.cumsum(rows, axis=1)], axis=1)  # P(c <= edge | v)
    accept_seller = np.concatenate(
        [np.cumsum(columns[::-1], axis=0)[::-1], np.zeros((1, n))], axis=0
    )  # P(v >= e|c)
    buyer = edges[np.argmax((points[:, None] - edges[None, :]) * accept_buyer, axis=1)]
    seller = edges[np.argmax((edges[:, None] - points[None, :]) * accept_seller, axis=0)]
    return buyer, seller


def random_proposer(prior: UnitPrior, buyer_proposes: float = 0.5) -> Offers:
    """Random-proposer monopoly offers under the true (conditional) prior, averaged over the coin."""
    buyer, seller = monopoly_offers(prior)
    buyer_turn = _priced(prior, buyer, np.full(prior.cells, np.nan), proposer="buyer")
    seller_turn = _priced(prior, np.full(prior.cells, np.nan), seller, proposer="seller")
    return Offers(
        *(
            buyer_proposes * getattr(buyer_turn, name) + (1 - buyer_proposes) * getattr(seller_turn, name)
            for name in ("efficiency", "buyer_share", "seller_share")
        )
    )


def _priced(prior: UnitPrior, by_value: Array, by_cost: Array, proposer: str = "both") -> Offers:
    """Outcome of trade at a price that depends on v (row), on c (column) or on neither (a posted price)."""
    v, c = prior.points[:, None], prior.points[None, :]
    price = by_value[:, None] + 0 * c if proposer == "buyer" else by_cost[None, :] + 0 * v
    trade = (c <= price) & (price <= v)
    gains = v - c
    with_gains = gains > 0
    mass = float((prior.table * with_gains).sum())
    share = np.where(with_gains & trade, 1 / np.where(with_gains, gains, 1), 0.0)
    return Offers(
        efficiency=float((prior.table * gains * trade).sum()) / prior.first_best_gains,
        buyer_share=float((prior.table * (v - price) * share).sum()) / mass,
        seller_share=float((prior.table * (price - c) * share).sum()) / mass,
    )


# -- the k-double auction's linear strategies ----------------------------------------------------------------------
def linear_strategies(k: float) -> tuple[Array, Array]:
    """Chatterjee–Samuelson's linear bid and ask on the unit square, as (slope, intercept) pairs."""
    return np.array([1 / (1 + k), k * (1 - k) / (2 * (1 + k))]), np.array([1 / (2 - k), (1 - k) / 2])


def linear_equilibrium_gain(prior: UnitPrior, k: float) -> float:
    """How much more either side expects by best-responding to the other's linear strategy than by playing its own,
    relative to what it expects by playing it (the larger of the two sides). Near 0: an equilibrium of this prior."""
    (bid_slope, bid_cut), (ask_slope, ask_cut) = linear_strategies(k)
    v = c = prior.points
    bids, asks = bid_slope * v + bid_cut, ask_slope * c + ask_cut
    candidates = np.linspace(0, 1, 2 * prior.cells + 1)

    def buyer_payoff(bid: Array) -> Array:  # bid per row -> expected payoff per row (times P(v))
        trade = bid[:, None] >= asks[None, :]
        return (prior.table * trade * (v[:, None] - (k * bid[:, None] + (1 - k) * asks[None, :]))).sum(axis=1)

    def seller_payoff(ask: Array) -> Array:
        trade = bids[:, None] >= ask[None, :]
        return (prior.table * trade * ((k * bids[:, None] + (1 - k) * ask[None, :]) - c[None, :])).sum(axis=0)

    buyer_best = np.max([buyer_payoff(np.full(len(v), b)) for b in candidates], axis=0)
    seller_best = np.max([seller_payoff(np.full(len(c), a)) for a in candidates], axis=0)
    gains = []
    for best, played in ((buyer_best, buyer_payoff(bids)), (seller_best, seller_payoff(asks))):
        total = float(played.sum())
        gains.append(float(np.maximum(best - played, 0).sum()) / total if total > 0 else np.inf)
    return max(gains)
