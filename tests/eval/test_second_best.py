"""The second-best and the mechanisms optimised on the prior a config draws, checked against closed forms and
against independent computations (the other method, or Monte Carlo of the mechanism's trade rule on fresh draws)."""

from pathlib import Path

import numpy as np
import pytest
from haggle.env.config_loading import load_yaml
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.eval import second_best as sb
from haggle.eval.references import prior_theory, unit_draws

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_uniform_values_give_the_textbook_numbers():
    prior = sb.prior_table(SamplerConfig(), sb.FINE_GRID)
    found = sb.second_best(prior)
    assert found.efficiency == pytest.approx(27 / 32, abs=1e-3)
    assert found.weight / (1 + found.weight) == pytest.approx(1 / 4, abs=1e-3)  # trade iff v - c >= 1/4
    price, posted = sb.posted_price(prior)
    assert price == 0.5 and posted.efficiency * prior.first_best_gains == pytest.approx(1 / 8, abs=1e-4)
    assert sb.linear_equilibrium_gain(prior.coarser().coarser(), 0.5) < 0.01


def test_virtual_values_agree_with_the_linear_programme_on_an_independent_non_uniform_prior():
    points = (np.arange(sb.FINE_GRID) + 0.5) / sb.FINE_GRID
    buyer, seller = 1 + points, 2 - points  # values lean high, costs lean low
    table = np.outer(buyer / buyer.sum(), seller / seller.sum())
    by_virtual_values = sb.second_best(sb.UnitPrior(table, True, "test"))
    by_lp = sb.second_best(sb.UnitPrior(table, False, "test"))
    assert by_lp.efficiency == pytest.approx(by_virtual_values.efficiency, abs=by_lp.grid_error + 0.01)


def _monte_carlo_efficiency(config: SamplerConfig, trade: np.ndarray, draws: int) -> float:
    """The mechanism's trade rule applied to fresh draws of the sampler (not the grid's midpoints)."""
    values, costs = unit_draws(ScenarioSampler(config).sample(draws, seed=4242))
    cells = trade.shape[0]
    rows = np.clip((np.clip(values, 0, 1) * cells).astype(int), 0, cells - 1)
    columns = np.clip((np.clip(costs, 0, 1) * cells).astype(int), 0, cells - 1)
    return float((trade[rows, columns] * (values - costs)).sum() / np.maximum(values - costs, 0).sum())


@pytest.mark.parametrize(
    ("config", "draws"),
    [
        (SamplerConfig(value_model="correlated", correlation=0.7), 20_000),
        (SamplerConfig.from_yaml(CONFIGS / "scenarios" / "marketplace.yaml"), 20_000),  # a catalogue prior
        (SamplerConfig.from_yaml(CONFIGS / "experiments" / "hotel_b2b.yaml"), 1_500),
    ],
    ids=["correlated", "marketplace-catalogue", "hotel"],
)
def test_second_best_of_non_uniform_priors_matches_monte_carlo_of_its_trade_rule(config, draws):
    prior = sb.prior_table(config, sb.FINE_GRID)
    found = sb.second_best(prior)
    simulated = _monte_carlo_efficiency(config, found.trade, draws)
    assert simulated == pytest.approx(found.efficiency, abs=found.grid_error + 0.06)
    assert found.efficiency >= sb.posted_price(prior)[1].efficiency


def _drawing_configs() -> list[Path]:
    return sorted(
        path
        for path in CONFIGS.rglob("*.yaml")
        if path.parent.name == "scenarios" or "scenarios" in load_yaml(path)
    )


@pytest.mark.parametrize("path", _drawing_configs(), ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_posted_price_never_beats_the_second_best_nor_first_best(path):
    loaded = load_yaml(path)
    config = SamplerConfig.from_mapping(loaded.get("scenarios", loaded))
    found = prior_theory(config)
    posted, best = found["best_posted_price"]["efficiency"], found["second_best"]
    assert 0 <= posted <= best["efficiency"] + best["grid_error"]
    assert best["efficiency"] <= 1 + 1e-6
