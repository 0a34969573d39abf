"""The training scripts' configs as TRL users expect them: `${VAR:-default}` expanded in the TRL YAMLs like in every
other config, `--resume_from_checkpoint` honoured, every shipped SFT and GRPO YAML parsing, and GRPO's training
mix (opponents by weight, held-out opponents, the share of scenarios without gains from trade) stated and checked."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from haggle.env.config_loading import ConfigError, load_yaml
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.training import grpo, sft
from haggle.training.run_steps import resume_checkpoint
from haggle.training.scenario_table import build_scenario_table

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
GRPO_CONFIGS = sorted((CONFIGS / "grpo").glob("*.yaml"))


@pytest.mark.parametrize(
    ("script", "path"),
    [(sft, path) for path in sorted((CONFIGS / "sft").glob("*.yaml"))]
    + [(grpo, path) for path in GRPO_CONFIGS],
    ids=lambda value: f"{value.parent.name}-{value.stem}" if isinstance(value, Path) else "",
)
def test_every_trl_config_parses(script, path):
    """On this CPU machine: the GPU configs' bf16 is switched off on the command line, nothing else."""
    script.make_parser().parse_args_and_config(
        ["--config", str(path), "--use_cpu", "true", "--bf16", "false"]
    )


def test_trl_yamls_expand_environment_variables_typed_by_the_field(tmp_path, monkeypatch):
    config = tmp_path / "grpo.yaml"
    config.write_text(
        (CONFIGS / "grpo" / "tiny-cpu.yaml")
        .read_text(encoding="utf-8")
        .replace("max_steps: 6", "max_steps: ${STEPS:-6}")
        .replace("seed: 0", "seed: ${SEED:-0}")
        .replace("num_scenarios: 64", "num_scenarios: ${ROWS:-64}")
        .replace("output_dir: runs/grpo-tiny", "output_dir: ${HAGGLE_RUNS:-runs}/grpo-tiny"),
        encoding="utf-8",
    )
    monkeypatch.setenv("STEPS", "9")
    monkeypatch.delenv("SEED", raising=False)
    monkeypatch.delenv("ROWS", raising=False)
    monkeypatch.setenv("HAGGLE_RUNS", str(tmp_path))
    script, training, _ = grpo.make_parser().parse_args_and_config(["--config", str(config), "--seed", "3"])
    assert (training.max_steps, training.seed, script.num_scenarios) == (9, 3, 64)
    assert type(script.num_scenarios) is int and training.output_dir == f"{tmp_path}/grpo-tiny"
    monkeypatch.delenv("HAGGLE_RUNS")
    with pytest.raises(ConfigError, match="HAGGLE_RUNS is not set"):
        config.write_text("output_dir: ${HAGGLE_RUNS}/sft\n", encoding="utf-8")
        sft.make_parser().parse_args_and_config(["--config", str(config)])


def test_trl_yamls_still_refuse_unknown_keys(tmp_path):
    config = tmp_path / "sft.yaml"
    config.write_text("output_dir: ${OUT:-runs/x}\nuse_cpu: true\nlerning_rate: 1.0e-4\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match="unknown training setting 'lerning_rate' \\(did you mean 'learning_rate'"
    ):
        sft.make_parser().parse_args_and_config(["--config", str(config)])


def test_the_grpo_defaults_are_the_reward_shapings_and_valid():
    """`unfinished_value` defaulted to -1.5 here, which `RewardShaping` refuses: a config omitting it failed."""
    from haggle.training.configs import GRPOScriptArguments
    from haggle.training.rewards import RewardShaping

    assert GRPOScriptArguments().shaping == RewardShaping()
    with pytest.raises(ValueError, match="roles: unknown role 'broker'; known: buyer, seller"):
        GRPOScriptArguments(roles=["buyer", "broker"])


@pytest.mark.parametrize("path", GRPO_CONFIGS, ids=lambda path: path.stem)
def test_every_grpo_config_states_its_no_zone_share_opponent_mix_and_held_out_opponents(path):
    """Left to the uniform value model, one scenario in two has no gains from trade: half the groups would teach
    "don't deal". Training against one scripted opponent teaches that opponent's exploit."""
    assert "no_zone_share" in load_yaml(path)["scenarios"]  # written in the file, not a default
    script, _, _ = grpo.make_parser().parse_args_and_config(
        ["--config", str(path), "--use_cpu", "true", "--bf16", "false"]
    )
    share = script.scenarios["no_zone_share"]
    sampler = ScenarioSampler(SamplerConfig.from_mapping(script.scenarios))  # no value model refuses it
    rows = build_scenario_table(sampler, 400, script.table_seed, opponents=script.opponent_weights)
    scenarios = [sampler.draw(row["scenario_seed"], tier=row["tier"], domain=row["domain"]) for row in rows]
    measured = sum(s.buyer_value < s.seller_cost for s in scenarios) / len(scenarios)
    assert 0 < share < 0.5 and measured == pytest.approx(share, abs=0.07)
    assert len(script.opponent_weights) > 1 and {row["opponent"] for row in rows} == set(
        script.opponent_weights
    )
    held_out = {spec["name"] for spec in script.held_out_opponents}
    assert held_out and not held_out & set(script.opponent_weights)


def test_the_tiny_eval_plays_the_tiny_grpo_runs_held_out_opponents():
    """The quick start's before/after eval must not reward learning the training opponents' exploits."""
    trained = load_yaml(CONFIGS / "grpo" / "tiny-cpu.yaml")
    evaluated = [spec["name"] for spec in load_yaml(CONFIGS / "eval" / "tiny-cpu.yaml")["opponents"]]
    assert evaluated == [spec["name"] for spec in trained["held_out_opponents"]]


def grpo_config_with(tmp_path, **changes):
    config = load_yaml(CONFIGS / "grpo" / "tiny-cpu.yaml") | changes
    path = tmp_path / "grpo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


MIX = [{"name": "linear", "weight": 1}, {"name": "conceder", "weight": 2}]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"opponents": [MIX[0], {"name": "conceder", "weight": 0}]},
            r"opponents\[1\]: `weight` must be a positive",
        ),
        ({"opponents": [{"name": "linear", "weight": -1.5}]}, r"opponents\[0\]: `weight` .* got -1.5"),
        (
            {"opponents": [{"name": "linear"}]},
            r"opponents\[0\]: `weight` must be a positive number .* got none",
        ),
        (
            {"opponents": [*MIX, {"name": "condeder", "weight": 1}]},
            "unknown scripted opponent 'condeder' \\(did you mean 'conceder'",
        ),
        (
            {"held_out_opponents": [{"name": "bulware"}]},
            r"held_out_opponents\[0\]: unknown scripted opponent 'bulware'",
        ),
        ({"opponents": [{"name": "linear", "weight": 1, "wieght": 2}]}, "unknown agent field 'wieght'"),
        (
            {"opponents": [*MIX, {"name": "linear", "weight": 1}]},
            r"the names \['linear'\] appear more than once",
        ),
        (
            {"opponents": MIX, "held_out_opponents": [{"name": "boulware"}, {"name": "conceder"}]},
            "'conceder' is also trained against",
        ),
        (
            {"opponents": MIX, "held_out_opponents": [{"name": "slow", "strategy": "linear"}]},
            r"'slow' is also trained against \(opponents: 'linear'\)",
        ),
    ],
)
def test_a_bad_opponent_mix_is_refused_at_start_up_in_one_line(tmp_path, changes, message):
    config = grpo_config_with(tmp_path, **changes)
    with pytest.raises(ConfigError, match=message) as refused:
        grpo.make_parser().parse_args_and_config(["--config", str(config)])
    assert "\n" not in str(refused.value)


def test_the_opponent_mix_takes_json_on_the_command_line_and_a_held_out_clash_stops_the_script():
    mix = json.dumps([{"name": "tit_for_tat", "weight": 3}, {"name": "random", "weight": 1}])
    tiny = str(CONFIGS / "grpo" / "tiny-cpu.yaml")
    script, _, _ = grpo.make_parser().parse_args_and_config(["--config", tiny, "--opponents", mix])
    assert script.opponent_weights == {"tit_for_tat": 3.0, "random": 1.0}
    assert script.opponent_specs == {"tit_for_tat": {"name": "tit_for_tat"}, "random": {"name": "random"}}
    # the shipped config holds boulware out: training on it is refused before anything loads, in one line
    clash = json.dumps([{"name": "linear", "weight": 1}, {"name": "boulware", "weight": 1}])
    command = [sys.executable, "training/grpo.py", "--config", tiny, "--opponents", clash]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "grpo: held_out_opponents: 'boulware' is also trained against (opponents: 'boulware'); a held-out "
        "opponent must be one the run never meets"
    ]


def test_resume_from_checkpoint_takes_a_directory_or_true_for_the_last_one(tmp_path, capsys):
    for step in (2, 10, 4):
        (tmp_path / f"checkpoint-{step}").mkdir()
    out = str(tmp_path)
    assert resume_checkpoint(False, str(tmp_path / "checkpoint-4"), out, "sft") == str(
        tmp_path / "checkpoint-4"
    )
    assert resume_checkpoint(False, "true", out, "sft") == str(tmp_path / "checkpoint-10")
    assert resume_checkpoint(True, None, out, "sft") == str(tmp_path / "checkpoint-10")
    assert resume_checkpoint(False, "false", out, "sft") is None
    assert "resuming from" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no such checkpoint directory"):
        resume_checkpoint(False, str(tmp_path / "checkpoint-99"), out, "sft")
    empty = tmp_path / "empty"
    with pytest.raises(ValueError, match="no checkpoint in .*use --resume to start fresh"):
        resume_checkpoint(False, "true", str(empty), "sft")
    assert resume_checkpoint(True, None, str(empty), "sft") is None  # --resume starts fresh


@pytest.mark.slow
def test_sft_resumes_from_the_checkpoint_trl_names(tiny_model_dir, sft_dataset_dir, tmp_path, run_sft):
    """`--resume_from_checkpoint DIR` was parsed, then ignored: training started again from step 0."""
    common = [
        "--model_name_or_path",
        tiny_model_dir,
        "--dataset_name",
        sft_dataset_dir,
        "--output_dir",
        tmp_path,
    ]
    run_sft(*common, "--max_steps", 2, "--save_steps", 1, "--logging_steps", 1)
    first = tmp_path / "checkpoint-1"
    resumed = run_sft(
        *common, "--max_steps", 3, "--save_steps", 1, "--logging_steps", 1, "--resume_from_checkpoint", first
    )
    assert f"resuming from {first}" in resumed
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [
        1,
        2,
        3,
    ]  # 2 and 3 retrained


def test_scripts_import_no_trl_internals():
    for script in (sft, grpo):
        source = Path(script.__file__).read_text(encoding="utf-8")
        assert "trl.trainer" not in source and "trl.scripts" not in source
