"""The training scripts' configs as TRL users expect them: `${VAR:-default}` expanded in the TRL YAMLs like in every
other config, `--resume_from_checkpoint` honoured, every shipped SFT and GRPO YAML parsing."""

import json
from pathlib import Path

import pytest
from haggle.env.config_loading import ConfigError
from haggle.training import grpo, sft
from haggle.training.run_steps import resume_checkpoint

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize(
    ("script", "path"),
    [(sft, path) for path in sorted((CONFIGS / "sft").glob("*.yaml"))]
    + [(grpo, path) for path in sorted((CONFIGS / "grpo").glob("*.yaml"))],
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
    with pytest.raises(ValueError, match="lerning_rate"):
        sft.make_parser().parse_args_and_config(["--config", str(config)])


def test_the_grpo_defaults_are_the_reward_shapings_and_valid():
    """`unfinished_value` defaulted to -1.5 here, which `RewardShaping` refuses: a config omitting it failed."""
    from haggle.training.configs import GRPOScriptArguments
    from haggle.training.rewards import RewardShaping

    assert GRPOScriptArguments().shaping == RewardShaping()
    with pytest.raises(ValueError, match="roles: unknown role 'broker'; known: buyer, seller"):
        GRPOScriptArguments(roles=["buyer", "broker"])


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
