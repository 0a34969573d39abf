"""Experiment presets: parsing, variants, and how conditions reach scripted and LLM agents."""

from pathlib import Path

import pytest
from haggle.data.agent_specs import AgentSpec
from haggle.env.actions import DISCLOSE_VALUE
from haggle.eval.experiments.experiment_config import (
    INSTRUCTIONS_PARAM,
    Condition,
    ExperimentConfig,
    load_experiment,
    merge,
    resolve_mapping,
)

PRESET_DIR = Path(__file__).resolve().parents[3] / "configs" / "experiments"
PRESETS = sorted(PRESET_DIR.glob("*.yaml"))


MINIMAL = {"name": "t", "scenarios": {"tiers": [100]}, "models": [{"name": "linear"}]}


def test_the_five_presets_are_there():
    assert {p.stem for p in PRESETS} == {
        "disclosure",
        "multi_turn_k5",
        "asymmetric_framing",
        "hotel_b2b",
        "mechanisms",
    }


@pytest.mark.parametrize("path", PRESETS, ids=lambda path: path.stem)
def test_every_preset_parses_with_and_without_its_tiny_variant(path):
    config, _ = load_experiment(path)
    assert config.models and config.episodes >= 60
    tiny, resolved = load_experiment(path, "tiny")
    assert tiny.episodes <= 4 and "variants" not in resolved
    assert any(model.kind == "hf" for model in tiny.models)


def test_variants_merge_mappings_and_replace_lists():
    base = {"scenarios": {"tiers": [10], "max_rounds": 5}, "models": [{"name": "a"}, {"name": "b"}]}
    merged = merge(base, {"scenarios": {"max_rounds": 3}, "models": [{"name": "c"}]})
    assert merged == {"scenarios": {"tiers": [10], "max_rounds": 3}, "models": [{"name": "c"}]}
    assert base["scenarios"]["max_rounds"] == 5  # the base is left alone
    with pytest.raises(ValueError, match="unknown variant 'huge'"):
        resolve_mapping(MINIMAL | {"variants": {"tiny": {"episodes": 2}}}, "huge")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"episode": 3}, "unknown experiment setting 'episode' \\(did you mean 'episodes'\\?\\)"),
        ({"episodes": 0}, "at least 1"),
        ({"baseline": "posted"}, "must name one of the experiment's mechanisms"),
        ({"models": [{"name": "linear"}, {"name": "linear"}]}, "unique"),
        ({"conditions": [{"name": "a", "instructions": {"broker": "x"}}]}, "unknown role"),
        ({"version": 2}, "version 2"),
        ({"scenarios": {"tier": [1]}}, "scenarios: unknown setting 'tier'"),
        ({"models": [{"name": "x", "model": "m"}]}, "models\\[0\\]: unknown setting 'model'"),
        ({"episodes": "many"}, "episodes must be an integer, got 'many'"),
        (
            {"mechanisms": [{"name": "p", "mechanism": "posted_price", "rule": "midpoint"}]},
            "mechanisms\\[0\\]: unknown",
        ),
    ],
)
def test_bad_presets_fail_with_a_clear_message(change, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig.from_mapping(MINIMAL | change)


def test_conditions_reach_scripted_agents_as_params_and_llms_as_instructions():
    config = ExperimentConfig.from_mapping(MINIMAL | {"disclosure": {}})
    condition = Condition(
        "seller_stronger",
        instructions={"seller": "You are stronger."},
        scripted_params={"seller": {"exponent": 0.2}},
    )
    scripted = AgentSpec("linear", params={"exponent": 1.0})
    assert config.agent_spec(scripted, condition, "seller").params == {"exponent": 0.2}
    assert config.agent_spec(scripted, condition, "buyer").params == {"exponent": 1.0}
    llm = AgentSpec("m", kind="openai", params={"model": "x", INSTRUCTIONS_PARAM: "Be brief."})
    seller = config.agent_spec(llm, condition, "seller").params[INSTRUCTIONS_PARAM]
    buyer = config.agent_spec(llm, condition, "buyer").params[INSTRUCTIONS_PARAM]
    assert (
        seller.startswith("Be brief.") and seller.endswith("You are stronger.") and "disclose_value" in seller
    )
    assert "stronger" not in buyer and "disclose_value" in buyer
    assert DISCLOSE_VALUE in config.rules.actions
    assert DISCLOSE_VALUE not in ExperimentConfig.from_mapping(MINIMAL).rules.actions
