"""`haggle pipeline`: stage commands wired to each other's outputs, failures that lose nothing, a real tiny run."""

import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from haggle.eval import stats

from haggle.cli import main
from haggle.pipeline import (
    EVAL_MODELS,
    STAGES,
    STATE_NAME,
    PipelineConfig,
    artefacts,
    before_after_table,
    score_eval_run,
    stage_commands,
)

REPO = Path(__file__).resolve().parents[2]


def write_config(path: Path, **changes) -> Path:
    config = yaml.safe_load((REPO / "configs/pipeline/tiny-cpu.yaml").read_text())
    config.update(changes)
    path.write_text(yaml.safe_dump(config))
    return path


def test_each_stage_reads_the_previous_stages_outputs(tmp_path):
    config = PipelineConfig.from_yaml(REPO / "configs/pipeline/tiny-cpu.yaml")
    paths = artefacts(tmp_path)
    (sft,) = stage_commands("sft", config, tmp_path)
    assert sft[:3] == [sys.executable, "-m", "haggle.training.sft"]
    assert sft[sft.index("--dataset_name") + 1] == str(paths["traces"])
    assert sft[sft.index("--model_name_or_path") + 1] == str(paths["tiny_model"])
    (grpo,) = stage_commands("grpo", config, tmp_path)
    assert grpo[grpo.index("--init_adapter") + 1] == str(paths["sft"])
    assert grpo[-4:] == ["--max_steps", "4", "--save_steps", "2"]  # the config's extra args come last
    assert stage_commands("traces", config, tmp_path)[0][4] == str(paths["tournament"])
    for stage in STAGES[1:]:  # every config a stage names exists
        for command in stage_commands(stage, config, tmp_path):
            if "--config" in command:
                assert Path(command[command.index("--config") + 1]).is_file()


def test_eval_plays_the_untrained_sft_and_grpo_models_on_the_same_scenarios(tmp_path):
    config = PipelineConfig.from_yaml(REPO / "configs/pipeline/tiny-cpu.yaml")
    paths = artefacts(tmp_path)
    commands = stage_commands("eval", config, tmp_path)
    outs = [command[command.index("--out") + 1] for command in commands]
    assert outs == [str(paths["eval"] / model) for model in EVAL_MODELS]
    adapters = [
        command[command.index("--adapter") + 1] if "--adapter" in command else None for command in commands
    ]
    assert adapters == [None, str(paths["sft"]), str(paths["grpo"])]
    # the same config, model and flags for all three: only the adapter and the output differ
    bare = [
        [part for part in command if part not in (out, adapter)]
        for command, out, adapter in zip(commands, outs, adapters, strict=True)
    ]
    assert (
        bare[0]
        == [part for part in bare[1] if part != "--adapter"]
        == [part for part in bare[2] if part != "--adapter"]
    )
    assert (
        "--no-progress" in commands[0]
    )  # stderr is not a terminal under pytest: no carriage returns in logs


def share_of_gains_by_hand(run_dir: Path) -> float:
    """The model's discounted surplus over the gains there were, both in prior widths, from the stored records."""
    from haggle.eval.eval_run import load_run

    surplus = gains = 0.0
    for records in load_run(run_dir).records.values():
        for record in records:
            outcome, scenario = record["outcome"], record["scenario"]
            width = scenario["value_high"] - scenario["value_low"]
            value, cost, price = outcome["buyer_value"], outcome["seller_cost"], outcome["price"]
            own = 0.0
            if outcome["deal"]:
                own = value - price if record["metadata"]["model_role"] == "buyer" else price - cost
            surplus += own * outcome["discount_factor"] / width
            gains += max(value - cost, 0.0) / width
    return surplus / gains


def test_the_before_after_table_reads_three_real_eval_runs(tmp_path):
    eval_dir = tmp_path / "eval"
    for model, strategy in zip(EVAL_MODELS, ["posted_price", "conceder", "boulware"], strict=True):
        config = tmp_path / f"{model}.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "seed": 3,
                    "episodes": 4,
                    "bootstrap_resamples": 50,
                    "scenarios": {"tiers": [100], "max_rounds": 4},
                    "model": {"name": model, "strategy": strategy},
                    "opponents": [{"name": "linear"}],
                }
            )
        )
        assert main(["eval", "--config", str(config), "--out", str(eval_dir / model), "--no-progress"]) == 0
    table = before_after_table(eval_dir).splitlines()
    assert table[0].startswith("before/after, the same 8 held-out episodes per model")
    assert table[1].split("  ")[0] == "model" and "share of gains [95%]" in table[1]
    for model, line in zip(EVAL_MODELS, table[2:], strict=True):
        score = score_eval_run(eval_dir / model)
        assert score.episodes == 8 and score.valid_moves == 1.0  # scripted agents make no invalid move
        # every resample is 1.0: the interval is Wilson's for 8 of 8 episodes, not a point claiming certainty
        assert score.valid_moves_ci == pytest.approx(tuple(stats.wilson_interval(8, 8)))
        assert score.deal_rate_ci == tuple(stats.wilson_interval(round(score.deal_rate * 8), 8))
        assert score.share_of_gains == pytest.approx(share_of_gains_by_hand(eval_dir / model))
        low, high = score.share_of_gains_ci
        assert low <= score.share_of_gains <= high
        assert line.split() == [
            model,
            "1.00",
            f"[{score.valid_moves_ci[0]:.2f},",
            "1.00]",
            f"{score.deal_rate:.2f}",
            f"[{score.deal_rate_ci[0]:.2f},",
            f"{score.deal_rate_ci[1]:.2f}]",
            f"{score.loss_deals}/8",
            f"{score.share_of_gains:.2f}",  # seed 3 draws scenarios with gains
            f"[{low:.2f},",
            f"{high:.2f}]",
        ]
    with pytest.raises(ValueError, match="not an eval run directory"):
        score_eval_run(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"polish": {}}, "unknown pipeline stage"),
        ({"sft": {"config": "configs/sft/nope.yaml"}}, "config file not found"),
        ({"grpo": {"args": []}}, "needs `config:`"),
        ({"tiny_model": {"size": 3}}, "unknown field"),
    ],
)
def test_bad_configs_are_refused_before_any_work(refused, tmp_path, change, message):
    config = write_config(tmp_path / "pipeline.yaml", **change)
    refused(["pipeline", "--config", str(config), "--out", str(tmp_path / "run")], match=re.escape(message))
    assert not (tmp_path / "run").exists()


def test_a_failed_stage_keeps_the_finished_ones_and_the_rerun_resumes(refused, tmp_path, capsys):
    broken = write_config(
        tmp_path / "broken.yaml",
        tournament={
            "config": "configs/tournament/scripted-cpu.yaml",
            "args": ["--episodes-per-pairing", "0"],
        },
    )
    out = tmp_path / "run"
    refused(["pipeline", "--config", str(broken), "--out", str(out)], match="stage tournament failed")
    state = json.loads((out / STATE_NAME).read_text())["stages"]
    assert list(state) == ["tiny_model"]
    assert (out / "tiny-model" / "config.json").is_file()

    fixed = write_config(
        tmp_path / "fixed.yaml",
        tournament={
            "config": "configs/tournament/scripted-cpu.yaml",
            "args": ["--episodes-per-pairing", "2"],
        },
        traces={"args": ["--validation-fraction", "0.3"]},
        sft={"config": "configs/sft/tiny-cpu.yaml", "args": ["--lora_r", "many"]},  # fails: not an integer
    )
    printed = refused(["pipeline", "--config", str(fixed), "--out", str(out)], match="stage sft failed")
    assert "tiny_model: done earlier" in printed
    assert list(json.loads((out / STATE_NAME).read_text())["stages"]) == [
        "tiny_model",
        "tournament",
        "traces",
    ]
    assert (out / "traces" / "dataset_dict.json").is_file()


@pytest.mark.slow
def test_the_readme_pipeline_runs_end_to_end_and_skips_finished_stages(tmp_path, capsys):
    """The main job with fewer steps: every artefact lands where the summary says; a rerun does no work."""
    config = write_config(
        tmp_path / "small.yaml",
        tournament={
            "config": "configs/tournament/scripted-cpu.yaml",
            "args": ["--episodes-per-pairing", "6"],
        },
        sft={"config": "configs/sft/tiny-cpu.yaml", "args": ["--max_steps", "4"]},
        grpo={"config": "configs/grpo/tiny-cpu.yaml", "args": ["--max_steps", "1", "--save_steps", "1"]},
        eval={"config": "configs/eval/tiny-cpu.yaml", "args": ["--episodes", "1"]},
    )
    out = tmp_path / "run"
    assert main(["pipeline", "--config", str(config), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    paths = artefacts(out.resolve())
    for stage, path in paths.items():
        assert f"{stage:<11} {path}" in printed
    assert (paths["tournament"] / "leaderboard.json").is_file()
    assert (paths["traces"] / "README.md").is_file()
    for adapter in ("sft", "grpo"):
        assert (paths[adapter] / "adapter_model.safetensors").is_file()
    for model in EVAL_MODELS:
        assert (paths["eval"] / model / "eval.json").is_file() and (
            paths["eval"] / model / "eval.md"
        ).is_file()
    assert "before/after, the same 4 held-out episodes per model" in printed
    first = json.loads((out / STATE_NAME).read_text())["stages"]
    assert list(first) == list(STAGES)

    assert main(["pipeline", "--config", str(config), "--out", str(out)]) == 0
    assert capsys.readouterr().out.count("done earlier") == len(STAGES)
    assert json.loads((out / STATE_NAME).read_text())["stages"] == first

    assert main(["pipeline", "--config", str(config), "--out", str(out), "--from", "eval"]) == 0
    rerun = capsys.readouterr().out
    assert rerun.count("done earlier") == len(STAGES) - 1 and rerun.count("[6/6] eval: $") == len(EVAL_MODELS)
    assert "before/after, the same 4 held-out episodes per model" in rerun
