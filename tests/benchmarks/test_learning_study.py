"""benchmarks/learning_study.py: the pieces the study's claims rest on, on small synthetic inputs (the opponent
draw every model shares, stored play read back as played, the resumable run directory, the shuffled-reward
control, the paired statistics and the claim rule), and one small real study end to end."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from haggle.env.actions import ToolCall
from haggle.env.negotiation import Negotiation, offer_call
from haggle.env.scenario import ROLES, Role, SamplerConfig, ScenarioSampler
from haggle.training.rewards import RewardShaping, surplus_share_score

from benchmarks import learning_study
from benchmarks.learning_study import (
    GRPO_CONFIG,
    METRICS,
    MODELS,
    MODES,
    ROOT,
    SFT_CONFIG,
    OpponentMix,
    Scored,
    analyse,
    claim_run_directory,
    claims,
    grpo_improves,
    mcnemar,
    model_row,
    models_to_play,
    paired_difference,
    parse_args,
    played,
    record_times,
    run,
    shuffled_surplus_share,
    tier_widths,
    timed_cell,
)

RESAMPLES = 400


# -- the opponents ------------------------------------------------------------------------------------------------
def test_an_opponent_mix_keeps_each_spec_without_its_weight():
    mix = OpponentMix.from_config(
        "training mix",
        [{"name": "linear", "weight": 3}, {"name": "boulware", "params": {"beta": 0.2}}],
    )
    assert mix.specs == {
        "linear": {"name": "linear"},
        "boulware": {"name": "boulware", "params": {"beta": 0.2}},
    }
    assert mix.weights == {"linear": 3.0, "boulware": 1.0}
    assert mix.title == "training mix (linear, boulware)"


def test_every_model_meets_the_same_opponent_on_the_same_scenario():
    entries = [{"name": "linear", "weight": 1}, {"name": "conceder", "weight": 1}, {"name": "tit_for_tat"}]
    draws = [OpponentMix.from_config("mix", entries).pick(1000, index) for index in range(64)]
    assert draws == [OpponentMix.from_config("mix", entries).pick(1000, index) for index in range(64)]
    assert set(draws) == {"linear", "conceder", "tit_for_tat"}
    assert draws != [OpponentMix.from_config("mix", entries).pick(1001, index) for index in range(64)]


def test_opponents_are_drawn_in_proportion_to_their_weights():
    mix = OpponentMix.from_config(
        "mix", [{"name": "linear", "weight": 3}, {"name": "hardliner", "weight": 1}]
    )
    counts = Counter(mix.pick(7, index) for index in range(4000))
    assert counts["linear"] / 4000 == pytest.approx(0.75, abs=0.03)


# -- stored play --------------------------------------------------------------------------------------------------
def scored(index: int, role: Role, reward: float | None, deal: float = 1.0, sample: int = 0) -> Scored:
    """One episode on scenario `index` (v = 100 + index, c = 80: gains from trade) with the given numbers."""
    values: dict[str, float | None] = dict.fromkeys(METRICS, 0.0)
    values |= {
        "reward": reward,
        "deal_rate": deal,
        "deal_rate_with_gains": deal,
        "deal_rate_without_gains": None,
    }
    return Scored((100.0 + index, 80.0, "100"), (index, role, sample), values)


def test_played_episodes_are_stored_once_and_read_back_as_played(tmp_path):
    path = tmp_path / "held-out-play" / "sft.as_evaluated.training mix.json"
    episodes = [scored(0, "buyer", 0.25), scored(0, "seller", None, deal=0.0), scored(1, "buyer", -1.0)]
    calls = []

    def play():
        calls.append(1)
        return episodes

    assert played(path, play) == episodes and len(calls) == 1
    assert path.is_file() and not path.with_suffix(".partial").exists()
    again = played(path, play)
    assert len(calls) == 1, "a stored block is read back, not played again"
    assert again == episodes
    assert all(isinstance(e.scenario, tuple) and isinstance(e.unit, tuple) for e in again)


def test_an_interrupted_write_leaves_no_stored_play_behind(tmp_path):
    """Only a complete write takes the final name: a crash leaves at most a .partial, and the next run plays again."""
    path = tmp_path / "grpo.as_rolled_out.held-out.json"
    unstorable = [Scored((100.0, 80.0, "100"), (0, "buyer", 0), {"reward": np.float32(0.5)})]
    with pytest.raises(TypeError, match="float32"):
        played(path, lambda: unstorable)
    assert not path.exists()
    path.with_suffix(".partial").write_text('[{"scenario": [100.0, 80.0, "1')  # a crash mid-write
    episodes = [scored(0, "buyer", 0.5)]
    assert played(path, lambda: episodes) == episodes
    assert played(path, lambda: []) == episodes
    assert not path.with_suffix(".partial").exists()


# -- the run directory and its steps ------------------------------------------------------------------------------
SMOKE_SPELLED_OUT = [
    *("--seeds", "0", "--eval-scenarios", "2", "--samples", "1", "--expert-scenarios", "20"),
    *("--sft-steps", "2", "--grpo-steps", "1", "--resamples", "200"),
]


def study_args(monkeypatch: pytest.MonkeyPatch, out: Path, *flags: str) -> argparse.Namespace:
    """The study's own command line, parsed by its parser."""
    monkeypatch.setattr(sys, "argv", ["learning_study.py", "--out", str(out), *flags])
    return parse_args()


def test_a_fresh_directory_is_claimed_and_the_same_study_resumes_in_it(tmp_path, monkeypatch):
    out = tmp_path / "study"
    claim_run_directory(out, study_args(monkeypatch, out, "--smoke"))
    assert json.loads((out / "study-settings.json").read_text())["sft_steps"] == 2
    (out / "seed-0").mkdir()
    spelled_out = study_args(monkeypatch, out, *SMOKE_SPELLED_OUT)  # the same settings without --smoke
    claim_run_directory(out, spelled_out)
    assert (out / "seed-0").is_dir()


def test_the_settings_record_both_training_configs(tmp_path, monkeypatch):
    out = tmp_path / "study"
    claim_run_directory(out, study_args(monkeypatch, out, "--smoke"))
    recorded = json.loads((out / "study-settings.json").read_text())["configs"].values()
    assert SFT_CONFIG.read_text() in recorded and GRPO_CONFIG.read_text() in recorded


def test_a_directory_of_another_study_or_of_something_else_is_refused(tmp_path, monkeypatch):
    out = tmp_path / "study"
    claim_run_directory(out, study_args(monkeypatch, out, "--smoke"))
    with pytest.raises(SystemExit, match="other settings, configs or reward code: give a fresh --out"):
        claim_run_directory(out, study_args(monkeypatch, out, "--smoke", "--eval-seed", "7"))
    other = tmp_path / "someone-elses"
    other.mkdir()
    (other / "results.json").write_text("{}")
    with pytest.raises(SystemExit, match="holds no study: give a fresh --out"):
        claim_run_directory(other, study_args(monkeypatch, other, "--smoke"))
    assert not (other / "study-settings.json").exists()


def test_a_change_of_the_reward_code_is_refused_as_a_change_of_config_is(tmp_path, monkeypatch):
    """A reward edit that leaves the YAML alone must not resume a study across two rewards."""
    reward = tmp_path / "rewards.py"
    reward.write_text(Path(ROOT / "training/rewards.py").read_text())
    monkeypatch.setattr(learning_study, "RESULT_CODE", (reward,))
    out = tmp_path / "study"
    claim_run_directory(out, study_args(monkeypatch, out, "--smoke"))
    claim_run_directory(out, study_args(monkeypatch, out, "--smoke"))  # the same code resumes
    reward.write_text(
        reward.read_text().replace("unfinished_value: float = -2.0", "unfinished_value: float = -1.0")
    )
    with pytest.raises(SystemExit, match="reward code: give a fresh --out"):
        claim_run_directory(out, study_args(monkeypatch, out, "--smoke"))


def test_a_step_runs_once_and_is_skipped_once_its_output_exists(tmp_path):
    marker = tmp_path / "ran"
    done = tmp_path / "done"
    command = [
        sys.executable,
        "-c",
        "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text('ran')",
        str(marker),
    ]
    seconds = run(command, "step", done)
    assert seconds is not None and seconds > 0 and marker.read_text() == "ran"
    marker.unlink()
    done.write_text("")
    assert run(command, "step", done) is None
    assert not marker.exists()


def test_a_failing_step_stops_the_study_with_its_output(tmp_path):
    command = [sys.executable, "-c", "import sys; sys.exit('no traces in the dataset')"]
    with pytest.raises(SystemExit, match="sft failed:(.|\n)*no traces in the dataset"):
        run(command, "sft", tmp_path / "adapter_model.safetensors")


def test_a_cells_time_is_written_when_the_cell_is_stored_so_a_study_stopped_later_keeps_it(tmp_path):
    """A study stopped in the middle of a seed used to lose the times of the cells it had stored (seconds.json was
    written once per seed), so its compute line undercounted."""
    cell = tmp_path / "seed-2" / "held-out-play" / "sft.as_evaluated.held-out.json"
    label = "seed 2: play sft, as_evaluated, held-out"
    episodes = [Scored((80.0, 20.0, "cheap"), (0, "buyer", 0), {"reward": 0.25})]

    def play() -> list[Scored]:
        time.sleep(0.3)
        return episodes

    assert timed_cell(tmp_path, cell, label, play) == episodes
    seconds = json.loads((tmp_path / "seconds.json").read_text())
    assert list(seconds) == [label] and seconds[label] >= 0.3

    def stopped() -> list[Scored]:
        raise KeyboardInterrupt

    other = cell.with_name("sft.as_rolled_out.held-out.json")
    with pytest.raises(KeyboardInterrupt):
        timed_cell(tmp_path, other, "seed 2: play sft, as_rolled_out, held-out", stopped)
    assert json.loads((tmp_path / "seconds.json").read_text()) == seconds  # the stored cell's time survives

    def played_again() -> list[Scored]:
        raise AssertionError("a stored cell is read back, not played again")

    assert timed_cell(tmp_path, cell, label, played_again) == episodes
    assert json.loads((tmp_path / "seconds.json").read_text()) == seconds  # the time it took to play, kept


def test_step_times_are_kept_over_resumed_invocations(tmp_path):
    assert record_times(tmp_path, {"tournament": 12.34, "seed 0: sft": None}) == {"tournament": 12.3}
    seconds = record_times(tmp_path, {"tournament": None, "seed 0: sft": 40.06})
    assert seconds == {"tournament": 12.3, "seed 0: sft": 40.1}
    assert json.loads((tmp_path / "seconds.json").read_text()) == seconds


# -- the shuffled-reward control ----------------------------------------------------------------------------------
@dataclass
class Rollout:
    """What GRPO's reward reads from a finished environment."""

    negotiation: Negotiation
    role: Role
    opponent_failure: BaseException | None = None


def bought_at(price: float) -> Negotiation:
    """The seller asks `price` for a good worth 120 to the buyer and costing the seller 80; the buyer accepts."""
    drawn = ScenarioSampler(SamplerConfig()).sample(1, seed=0)[0]
    negotiation = Negotiation(
        replace(
            drawn, buyer_value=120.0, seller_cost=80.0, value_low=50.0, value_high=150.0, first_mover="seller"
        )
    )
    negotiation.step("seller", offer_call(price))
    negotiation.step("buyer", ToolCall("accept_offer"))
    return negotiation


def test_the_shuffled_control_permutes_rewards_among_scored_rollouts_only():
    rollouts = [
        Rollout(bought_at(price), "buyer") for price in (82.0, 86.0, 90.0, 94.0, 98.0, 102.0, 106.0, 110.0)
    ]
    rollouts[3].opponent_failure = ConnectionError("endpoint down")  # voided: not scored
    completions = [[{"role": "assistant", "content": ""}]] * len(rollouts)
    rewards = [
        None if r.opponent_failure else surplus_share_score(r.negotiation, r.role, RewardShaping())
        for r in rollouts
    ]
    assert len(set(rewards)) == len(
        rewards
    )  # rational deals: the shaping does not matter, every reward differs
    permutations = [shuffled_surplus_share(rollouts, completions) for _ in range(5)]
    for shuffled in permutations:
        assert shuffled[3] is None
        assert sorted(r for r in shuffled if r is not None) == pytest.approx(
            sorted(r for r in rewards if r is not None)
        )
    assert any(shuffled != rewards for shuffled in permutations), "every batch came back unshuffled"


def test_the_untrained_model_plays_for_the_first_seed_only_unless_asked():
    trained = tuple(model for model in MODELS if model != "untrained")
    assert models_to_play(3, [3, 4, 5], untrained_every_seed=False) == MODELS
    assert models_to_play(4, [3, 4, 5], untrained_every_seed=False) == trained
    assert models_to_play(5, [3, 4, 5], untrained_every_seed=True) == MODELS


# -- the statistics and the claim rule ----------------------------------------------------------------------------
SCENARIOS = 32
BASE = np.random.default_rng(0).uniform(
    -1.0, 1.0, SCENARIOS
)  # each scenario's reward for the reference model
JITTER = np.tile([0.1, -0.1], SCENARIOS // 2)  # scenario-to-scenario noise of a difference, mean exactly 0


def model_play(rewards: Sequence[float], seeds: Sequence[int] = (0, 1)) -> dict[int, list[Scored]]:
    """A model's held-out play per seed: both roles of every scenario, with the scenario's reward."""
    return {
        seed: [scored(k, role, float(r)) for k, r in enumerate(rewards) for role in ROLES] for seed in seeds
    }


def test_a_constant_gain_is_measured_with_an_interval_around_it():
    result = paired_difference(model_play(BASE + 0.5 + JITTER), model_play(BASE), "reward", RESAMPLES)
    assert result["difference"] == pytest.approx(0.5)
    assert 0 < result["ci"][0] < 0.5 < result["ci"][1]
    assert result["per_seed"] == {0: pytest.approx(0.5), 1: pytest.approx(0.5)}
    assert result["seeds_ci"] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert result["scenarios"] == SCENARIOS
    assert grpo_improves({"metrics": {"reward": result}})


def test_equal_models_differ_by_an_interval_that_covers_zero():
    result = paired_difference(model_play(BASE + JITTER), model_play(BASE), "reward", RESAMPLES)
    assert result["difference"] == pytest.approx(0.0, abs=1e-12)
    assert result["ci"][0] < 0 < result["ci"][1]
    assert not grpo_improves({"metrics": {"reward": result}})
    same = paired_difference(model_play(BASE), model_play(BASE), "reward", RESAMPLES)
    assert same["difference"] == 0 and same["ci"][0] <= 0 <= same["ci"][1]


def test_a_metric_no_scenario_defines_has_no_difference():
    result = paired_difference(model_play(BASE), model_play(BASE), "deal_rate_without_gains", RESAMPLES)
    assert result == {"difference": None, "ci": None, "scenarios": 0, "per_seed": {}, "seeds_ci": None}


def test_the_claim_needs_every_seed_on_the_side_of_the_interval():
    """Pooled over seeds the gain is clear (0.45), but seed 1 got worse: no claim."""
    gain = {
        0: model_play(BASE + 1.0 + JITTER, seeds=[0])[0],
        1: model_play(BASE - 0.1 + JITTER, seeds=[1])[1],
    }
    result = paired_difference(gain, model_play(BASE), "reward", RESAMPLES)
    assert result["difference"] == pytest.approx(0.45) and result["ci"][0] > 0
    assert result["per_seed"] == {0: pytest.approx(1.0), 1: pytest.approx(-0.1)}
    assert not grpo_improves({"metrics": {"reward": result}})


def test_the_claim_needs_the_training_noise_too():
    """Every seed gains and the scenario interval excludes 0, but the seeds' gains (0.9, 0.1, 0.5) vary so much
    that another seed could train a model that does not gain: the t interval over seeds covers 0, so no claim.
    One seed alone never makes the claim: it cannot tell the training's noise."""
    gain = {
        seed: model_play(BASE + delta + JITTER, seeds=[seed])[seed]
        for seed, delta in enumerate((0.9, 0.1, 0.5))
    }
    result = paired_difference(gain, model_play(BASE, seeds=(0, 1, 2)), "reward", RESAMPLES)
    assert result["ci"][0] > 0 and all(value > 0 for value in result["per_seed"].values())
    low, high = result["seeds_ci"]
    assert low < 0 < high and (low + high) / 2 == pytest.approx(0.5)
    assert not grpo_improves({"metrics": {"reward": result}})
    alone = paired_difference({0: gain[0]}, model_play(BASE, seeds=[0]), "reward", RESAMPLES)
    assert alone["ci"][0] > 0 and alone["seeds_ci"] is None
    assert not grpo_improves({"metrics": {"reward": alone}})


def shares(per_scenario_share: dict[float, float]) -> dict[int, list[Scored]]:
    """Seed 0's play: both roles of each scenario (v, c = 80, tier "100") with the given surplus share."""
    episodes = []
    for index, (buyer_value, share) in enumerate(per_scenario_share.items()):
        values: dict[str, float | None] = dict.fromkeys(METRICS, 0.0) | {"surplus_share": share}
        episodes += [Scored((buyer_value, 80.0, "100"), (index, role, 0), values) for role in ROLES]
    return {0: episodes}


def test_the_surplus_share_is_pooled_over_the_gains_so_a_sliver_of_gains_cannot_set_it():
    """A share of −100 on a scenario whose gains are a thousandth of the prior's width, beside 0.5 on one with a
    whole width: the mean of the shares is −49.75 (the v2 study's column read −65 to −101); the share of the
    gains is (0.5·1 − 100·0.001) / 1.001."""
    widths = {"100": 100.0}
    trained, reference = shares({180.0: 0.5, 80.1: -100.0}), shares({180.0: 0.2, 80.1: 0.0})
    row = model_row(trained[0], RESAMPLES, widths)
    assert row["surplus_share"] == pytest.approx(0.4 / 1.001)
    assert row["surplus_share_ci"][0] <= row["surplus_share"] <= row["surplus_share_ci"][1]
    assert (
        model_row(trained[0], RESAMPLES, None)["surplus_share"] is None
    )  # no widths, no pooling across tiers
    difference = paired_difference(trained, reference, "surplus_share", RESAMPLES, widths)
    assert difference["difference"] == pytest.approx((0.4 - 0.2) / 1.001)
    assert difference["per_seed"] == {0: pytest.approx((0.4 - 0.2) / 1.001)}
    assert (
        model_row(trained[0], RESAMPLES, widths)["reward"] == model_row(trained[0], RESAMPLES, None)["reward"]
    )


def test_the_study_knows_each_tiers_prior_width():
    config = yaml.safe_load(GRPO_CONFIG.read_text())
    sampler = ScenarioSampler(SamplerConfig.from_mapping(config["scenarios"]))
    widths = tier_widths(sampler)
    assert set(widths) == set(sampler.tier_names)
    for scenario in sampler.sample(50, seed=1000):
        assert widths[scenario.price_tier] == pytest.approx(scenario.value_high - scenario.value_low)


def test_mcnemar_counts_the_deals_only_one_model_closed_on_the_same_episode():
    reference = {0: [scored(k, "buyer", 0.0, deal=d) for k, d in enumerate([1, 0, 0, 0, 1, 0])]}
    trained = {
        0: [scored(k, "buyer", 0.0, deal=d) for k, d in enumerate([1, 1, 1, 1, 0, 0])]
        + [scored(0, "buyer", 0.0, deal=1.0, sample=1)],  # no paired episode in the reference
        1: [scored(k, "buyer", 0.0, deal=1.0) for k in range(6)],  # a seed the reference did not play
    }
    assert mcnemar(trained, reference) == {"only_a": 3, "only_b": 1, "p_value": pytest.approx(0.625)}
    assert mcnemar(reference, trained) == {"only_a": 1, "only_b": 3, "p_value": pytest.approx(0.625)}


def test_the_claims_follow_the_intervals_in_every_block():
    """Against the training mix GRPO gains 0.5 and the shuffled control nothing: the claim. Against the held-out
    opponents GRPO gains nothing and the control 0.5. Against a third mix both gain 0.5: GRPO beats SFT continued
    but not the control, so the gain is not claimed as the reward's. Against a fourth the control loses 0.5: that
    is no improvement either, not a gain that is "not only the reward's"."""
    gains = {
        "training mix": {"grpo": 0.5, "grpo_shuffled": 0.0},
        "held-out": {"grpo": 0.0, "grpo_shuffled": 0.5},
        "both": {"grpo": 0.5, "grpo_shuffled": 0.5},
        "worse control": {"grpo": 0.5, "grpo_shuffled": -0.5},
    }
    episodes = {
        mode: {
            opponent: {
                model: model_play(BASE + by_model[model] + JITTER if model in by_model else BASE)
                for model in MODELS
            }
            for opponent, by_model in gains.items()
        }
        for mode in MODES
    }
    blocks = analyse(episodes, RESAMPLES)
    assert [(block["mode"], block["opponent"]) for block in blocks] == [
        (mode, opponent) for mode in MODES for opponent in gains
    ]
    assert all(list(block["models"]) == list(MODELS) for block in blocks)
    lines = claims(blocks)
    assert len(lines) == 2 * len(blocks)
    for mode, block_lines in zip(("as evaluated", "as rolled out"), (lines[:8], lines[8:]), strict=True):
        trained, control, held_out, held_out_control, both, both_control, worse, worse_control = block_lines
        assert trained.startswith(f"GRPO improves on SFT ({mode}, against training mix)")
        assert "GRPO − shuffled 0.500 [" in trained
        assert control.endswith("covers 0, as a control should.")
        assert held_out.startswith(f"GRPO does not (yet) improve on SFT ({mode}, against held-out)")
        assert held_out_control.endswith(
            "is above 0: the updates alone gained reward, so the gain is not only the reward's."
        )
        assert both.startswith(f"GRPO gains on SFT continued ({mode}, against both")
        assert both.endswith("the gain is not shown to be the reward's.")
        assert both_control.endswith(
            "is above 0: the updates alone gained reward, so the gain is not only the reward's."
        )
        assert worse.startswith(f"GRPO improves on SFT ({mode}, against worse control)")
        assert "GRPO − shuffled 1.000 [" in worse
        assert worse_control.endswith(
            "is below 0: the updates on a shuffled reward lost reward, so the control shows no improvement."
        )


# -- the study end to end -----------------------------------------------------------------------------------------
@dataclass
class Invocation:
    stdout: str
    seconds: float
    report: dict[str, Any]
    step_seconds: dict[str, float]


STUDY_SECONDS = 3600  # measured: ~4 min on 2 idle cores, 28 min on 2 cores shared with other training runs
RERUN_SECONDS = 600  # nothing to train or play: reading back and reporting


def run_smoke_study(out: Path, timeout: float) -> Invocation:
    """`learning_study.py --smoke` as a user runs it; on a timeout its training subprocesses go with it."""
    command = [sys.executable, "benchmarks/learning_study.py", "--smoke", "--out", str(out)]
    start = time.perf_counter()
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as study:
        try:
            stdout, stderr = study.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(study.pid, signal.SIGKILL)
            raise
    assert study.returncode == 0, stdout[-3000:] + stderr[-5000:]
    for name in ("study.md", "study.json", "study.png"):
        assert (out / name).is_file(), name
    return Invocation(
        stdout,
        time.perf_counter() - start,
        json.loads((out / "study.json").read_text()),
        json.loads((out / "seconds.json").read_text()),
    )


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory) -> list[Invocation]:
    """The whole pipeline at minimal size, then the same command again on the same directory."""
    out = tmp_path_factory.mktemp("learning-study") / "run"
    return [run_smoke_study(out, STUDY_SECONDS), run_smoke_study(out, RERUN_SECONDS)]


@pytest.mark.slow
@pytest.mark.timeout(STUDY_SECONDS + RERUN_SECONDS + 60)  # the fixture runs in setup
def test_the_smoke_study_reports_every_model_in_every_block_and_a_rerun_does_no_work(smoke_study):
    first, again = smoke_study
    blocks = first.report["blocks"]
    assert sorted((block["mode"], block["opponent"].split(" (")[0]) for block in blocks) == sorted(
        (mode, opponent) for mode in MODES for opponent in ("training mix", "held-out")
    )
    for block in blocks:
        assert list(block["models"]) == list(MODELS)
        assert all(row["episodes"] > 0 for row in block["models"].values())
    assert first.report["claims"] and "## Claims" in first.stdout
    steps = ["tournament", "traces", "tiny", "sft", "sft continued", "grpo", "grpo shuffled"]
    skipped = [
        line.split(": done before (")[0] for line in again.stdout.splitlines() if ": done before (" in line
    ]
    assert skipped == [f"= {step}" for step in steps]
    assert not any(line.startswith("$ ") for line in again.stdout.splitlines()), "the rerun ran a step"
    assert again.seconds < first.seconds / 3
    assert again.report["blocks"] == blocks and again.report["claims"] == first.report["claims"]


@pytest.mark.slow
@pytest.mark.timeout(STUDY_SECONDS + RERUN_SECONDS + 60)  # the fixture runs in setup
def test_a_rerun_keeps_the_time_of_the_held_out_play(smoke_study):
    first, again = smoke_study
    plays = {
        step: seconds for step, seconds in first.step_seconds.items() if step.startswith("seed 0: play ")
    }
    assert len(plays) == 5 * 2 * 2  # every model, mode and opponent block played once, and timed
    assert {step: again.step_seconds[step] for step in plays} == plays
