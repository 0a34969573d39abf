"""The one config helper: `${VAR:-default}` typed by the field, unknown keys refused, overrides checked again,
and every config in configs/ loading with its class."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from haggle.env.config_loading import ConfigError, build, load_yaml, override
from haggle.env.negotiation import ProtocolRules
from haggle.env.scenario import SamplerConfig
from haggle.eval.eval_config import EvalConfig
from haggle.eval.experiments.experiment_config import load_experiment

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@dataclass
class Leg:
    city: str
    nights: int = 1


@dataclass
class Trip:
    name: str
    budget: float = 100.0
    travellers: int = 1
    refundable: bool = False
    mode: Literal["train", "plane"] = "train"
    seed: int | None = None
    legs: list[Leg] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 1.0)
    limits: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.travellers < 1:
            raise ValueError("travellers must be at least 1")


def test_expanded_values_take_the_type_of_their_field(tmp_path, monkeypatch):
    path = tmp_path / "trip.yaml"
    path.write_text(
        "name: ${TRIP:-alps}\nbudget: ${BUDGET:-250.5}\ntravellers: ${N:-4}\nrefundable: ${REFUND:-yes}\n"
        "seed: ${S:-0}\nlegs:\n  - {city: Zurich, nights: '${NIGHTS:-3}'}\nwindow: ['${LOW:-0.2}', 0.9]\n"
        "limits: {bags: '${BAGS:-2}'}\n",
        encoding="utf-8",
    )
    trip = build(Trip, load_yaml(path))
    assert trip == Trip("alps", 250.5, 4, True, "train", 0, [Leg("Zurich", 3)], (0.2, 0.9), {"bags": 2})
    assert type(trip.travellers) is int and type(trip.seed) is int and type(trip.window) is tuple
    monkeypatch.setenv("N", "7")
    monkeypatch.setenv("S", "12")
    assert build(Trip, load_yaml(path)).travellers == 7 and build(Trip, load_yaml(path)).seed == 12


def test_the_issue_examples_are_integers_in_a_real_config(tmp_path, monkeypatch):
    """`episodes: ${N:-4}` crashed with a TypeError and `seed: ${S:-0}` was stored as the text "0"."""
    monkeypatch.delenv("N", raising=False)
    path = tmp_path / "eval.yaml"
    path.write_text(
        "seed: ${S:-0}\nepisodes: ${N:-4}\nscenarios: {max_rounds: '${R:-5}'}\nrules: {max_violations: '${V:-2}'}\n"
        "model: {name: model, strategy: boulware}\nopponents: [{name: linear}]\n",
        encoding="utf-8",
    )
    config = EvalConfig.from_yaml(path)
    assert (config.seed, config.episodes, config.scenarios.max_rounds, config.rules.max_violations) == (
        0,
        4,
        5,
        2,
    )
    assert all(type(value) is int for value in (config.seed, config.episodes, config.scenarios.max_rounds))


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"name": "a", "budjet": 1},
            "unknown setting 'budjet' (did you mean 'budget'?); known: budget, legs, ",
        ),
        ({"name": "a", "zz": 1, "yy": 2}, "unknown settings 'yy', 'zz'; known: budget,"),
        (
            {"name": "a", "legs": [{"city": "x", "night": 2}]},
            "legs[0]: unknown setting 'night' (did you mean",
        ),
        ({"name": "a", "travellers": "four"}, "travellers must be an integer, got 'four'"),
        ({"name": "a", "budget": "cheap"}, "budget must be a number, got 'cheap'"),
        ({"name": "a", "refundable": "maybe"}, "refundable must be true or false, got 'maybe'"),
        ({"name": "a", "mode": "boat"}, "mode must be one of 'train', 'plane', got 'boat'"),
        ({"name": "a", "seed": "x"}, "seed must be an integer, got 'x'"),
        (
            {"name": "a", "legs": [{"city": "x", "nights": "two"}]},
            "legs[0].nights must be an integer, got 'two'",
        ),
        ({"name": "a", "window": [1]}, "window must be a list of 2 items, got [1]"),
        ({"name": "a", "limits": {"bags": "many"}}, "limits.bags must be an integer, got 'many'"),
        ({"budget": 3}, "missing required setting 'name'"),
        ({"name": "a", "travellers": 0}, "travellers must be at least 1"),
    ],
)
def test_bad_values_fail_in_one_line_naming_the_key(mapping, message):
    with pytest.raises(ValueError) as error:
        build(Trip, mapping)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_empty_blocks_are_defaults_and_x_keys_are_ignored():
    trip = build(Trip, {"name": "a", "legs": None, "limits": None, "x-anchor": {"city": "y"}})
    assert trip.legs == [] and trip.limits == {}
    assert ProtocolRules.from_mapping(None) == ProtocolRules()
    assert ProtocolRules.from_mapping({"actions": ["make_offer", "accept_offer"]}).actions == (
        "make_offer",
        "accept_offer",
    )


def test_overrides_are_typed_and_checked_again_never_set_behind_the_class():
    trip = build(Trip, {"name": "a"})
    changed = override(trip, travellers="3", budget=5)
    assert (changed.travellers, changed.budget, trip.travellers) == (3, 5.0, 1)
    with pytest.raises(ValueError, match="travellers must be at least 1"):
        override(trip, travellers=0)
    with pytest.raises(ConfigError, match="unknown setting 'travelers' \\(did you mean 'travellers'\\?\\)"):
        override(trip, travelers=2)


def test_rules_refuse_unknown_actions_with_the_known_ones():
    with pytest.raises(ValueError, match="rules: unknown action 'buy_now'; known: accept_offer"):
        ProtocolRules(actions=("make_offer", "buy_now"))


@pytest.mark.parametrize("path", sorted((CONFIGS / "scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_scenario_config_loads(path):
    SamplerConfig.from_yaml(path)


@pytest.mark.parametrize("path", sorted((CONFIGS / "eval").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_eval_config_loads(path):
    EvalConfig.from_yaml(path)


@pytest.mark.parametrize("path", sorted((CONFIGS / "experiments").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_experiment_config_loads_with_each_variant(path):
    for variant in [None, *(load_yaml(path).get("variants") or {})]:
        load_experiment(path, variant)


@pytest.mark.parametrize("path", sorted((CONFIGS / "tournament").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_tournament_config_loads(path):
    from haggle.data.tournament import TournamentConfig

    TournamentConfig.from_yaml(path)


@pytest.mark.parametrize("path", sorted((CONFIGS / "pipeline").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_pipeline_config_loads(path):
    from haggle.pipeline import PipelineConfig

    stages = PipelineConfig.from_yaml(path).stages
    assert all(isinstance(arg, str) for stage in stages.values() for arg in stage.args)
