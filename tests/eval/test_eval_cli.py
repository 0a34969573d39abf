"""`haggle eval` as a user runs it: the tiny model on CPU, scripted models checked against `haggle simulate`,
resuming into the same run directory, and clear messages for bad input."""

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml

from haggle.cli import main

REPO = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_config(path: Path, **changes) -> Path:
    """A small scripted eval: the model (boulware unless changed) against linear and hardliner."""
    config = {
        "seed": 7,
        "episodes": 30,
        "bootstrap_resamples": 200,
        "scenarios": {"tiers": [10, 1000, 100000], "domains": ["abstract", "used_car"], "max_rounds": 8},
        "model": {"name": "model", "strategy": "boulware"},
        "opponents": [{"name": "linear"}, {"name": "hardliner", "params": {"margin": 0.3}}],
    } | changes
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_eval(capsys, *args) -> dict:
    assert main(["eval", *args, "--no-progress", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def strict_json(path: Path) -> dict:
    """eval.json must be standard JSON: no NaN or Infinity."""

    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.mark.slow
def test_tiny_model_eval_on_cpu_writes_json_markdown_and_plots(capsys, tiny_model_dir, tmp_path):
    out = tmp_path / "eval-tiny"
    args = ["eval", "--config", str(REPO / "configs/eval/tiny-cpu.yaml"), "--out", str(out)]
    assert main([*args, "--model-path", str(tiny_model_dir), "--episodes", "4", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Eval: tiny-qwen3") and "| opponent | role | tier |" in printed
    data = strict_json(out / "eval.json")
    assert data["schema"] == "haggle.eval/1" and data["model"]["params"]["model"] == str(tiny_model_dir)
    cells = {(c["opponent"], c["role"], c["tier"]) for c in data["cells"]}
    assert cells == {
        (o, r, t)
        for o in ("boulware", "hardliner")
        for r in ("buyer", "seller")
        for t in ("100", "10k", "all")
    }
    assert data["episodes_stored"] == data["episodes_planned"] == 4 * 2 * 2
    assert printed.startswith((out / "eval.md").read_text(encoding="utf-8"))
    assert data["plots"] == ["plots/surplus_share_by_tier.png", "plots/deal_rate_by_tier.png"]
    from haggle.eval.eval_plots import tier_figure
    from matplotlib.image import imread

    figure = tier_figure(data, "surplus_share_unconditional")
    assert [axes.get_title() for axes in figure.axes] == ["model as buyer", "model as seller"]
    assert figure.get_suptitle().startswith("Surplus share (no deal = 0): tiny-qwen3")
    for name in data["plots"]:
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE
        height, width, _ = imread(out / name).shape
        assert (width, height) == (1375, 462)  # figsize (12.5, 4.2) at 110 dpi


def test_scripted_eval_reproduces_haggle_simulate_on_the_same_seed(capsys, tmp_path):
    config = write_config(tmp_path / "eval.yaml", opponents=[{"name": "conceder"}, {"name": "linear"}])
    data = run_eval(capsys, "--config", str(config), "--out", str(tmp_path / "run"))["eval"]

    def simulate(buyer: str, seller: str, seed: int) -> dict:
        args = ["--buyer", buyer, "--seller", seller, "--episodes", "30", "--seed", str(seed)]
        assert main(["simulate", *args, "--config", str(config), "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    keys = ("episodes", "deal_rate", "efficiency", "mean_rounds_to_deal")
    for opponent in ("conceder", "linear"):
        pairings = {"buyer": ("boulware", opponent), "seller": (opponent, "boulware")}
        for role, (buyer, seller) in pairings.items():
            expected = simulate(buyer, seller, seed=7)
            cells = {c["tier"]: c for c in data["cells"] if c["opponent"] == opponent and c["role"] == role}
            assert set(cells) == {*expected["tiers"], "all"}
            for tier, summary in [*expected["tiers"].items(), ("all", expected)]:
                for key in keys:
                    assert cells[tier][key] == summary[key], (opponent, role, tier, key)
                assert cells[tier]["surplus_share"] == summary["surplus_share"][role]
                assert (
                    cells[tier]["surplus_share_unconditional"] == summary["surplus_share_unconditional"][role]
                )
    other_seed = simulate("boulware", "conceder", seed=8)  # the equality above is not a property of any draw
    all_cell = next(
        c for c in data["cells"] if (c["opponent"], c["role"], c["tier"]) == ("conceder", "buyer", "all")
    )
    assert all_cell["surplus_share"] != other_seed["surplus_share"]["buyer"]


def test_a_rerun_plays_nothing_new_and_a_changed_game_is_refused(refused, capsys, tmp_path):
    config, out = write_config(tmp_path / "eval.yaml"), tmp_path / "run"
    first = run_eval(capsys, "--config", str(config), "--out", str(out))
    assert first["run"]["completed"] == 30 * 2 * 2 and first["run"]["already_done"] == 0
    written = (out / "eval.json").read_bytes()
    second = run_eval(capsys, "--config", str(config), "--out", str(out))
    assert second["run"]["completed"] == 0 and second["run"]["already_done"] == 120
    assert (out / "eval.json").read_bytes() == written and second["eval"] == first["eval"]
    more = run_eval(capsys, "--config", str(config), "--out", str(out), "--episodes", "33")
    assert more["run"]["completed"] == 3 * 2 * 2  # the same 30 scenarios, then 3 more

    changed = write_config(tmp_path / "changed.yaml", scenarios={"tiers": [10, 1000], "max_rounds": 8})
    refused(
        ["eval", "--config", str(changed), "--out", str(out), "--no-progress"], match="different scenarios"
    )
    other_model = write_config(tmp_path / "other.yaml", model={"name": "model", "strategy": "conceder"})
    refused(
        ["eval", "--config", str(other_model), "--out", str(out), "--no-progress"], match="different model"
    )
    refused(
        ["eval", "--config", str(config), "--out", str(out), "--seed", "8", "--no-progress"],
        match="different seed",
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"opponents": [{"name": "oracle"}]}, "unknown agent 'oracle'; registered agents"),
        ({"opponents": []}, "no `opponents`"),
        ({"opponents": [{"name": "model"}]}, "distinct names"),
        ({"episodes": 0}, "episodes must be at least 1"),
        ({"scenarios": {"domains": ["moon_rocks"]}}, "unknown domain"),
        (
            {"model": {"name": "m", "kind": "hf", "params": {"model": "/nowhere/model"}}},
            "neither a local directory",
        ),
        ({"surprise": 1}, "unknown eval setting"),
    ],
)
def test_bad_configs_stop_with_a_message(refused, tmp_path, changes, message):
    config = write_config(tmp_path / "eval.yaml", **changes)
    refused(["eval", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"], match=message)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_bad_command_lines_stop_with_a_message(refused, tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    tiny = str(REPO / "configs/eval/tiny-cpu.yaml")
    cases = [
        (["--config", str(empty), "--out", str(tmp_path / "a")], "config is empty"),
        (["--config", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "a")], "config file not found"),
        (["--out", str(tmp_path / "a")], "pass --config FILE and --out RUN_DIR"),
        (["--config", tiny, "--out", str(tmp_path / "a"), "--model-path", str(tmp_path / "no-model")], "neither a local directory"),
        (["--config", tiny, "--out", str(tmp_path / "a"), "--model-path", str(tmp_path), "--adapter", str(tmp_path / "no")], "adapter directory"),
        (["--config", str(write_config(tmp_path / "s.yaml")), "--out", str(tmp_path / "a"), "--model-path", "x"], "is scripted"),
    ]  # fmt: skip
    for args, message in cases:
        refused(["eval", *args, "--no-progress"], match=message)
    result = subprocess.run(
        [sys.executable, "-m", "haggle.cli", "eval", "--config", str(empty), "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr and "config is empty" in result.stderr


@pytest.mark.skipif(find_spec("wandb") is not None, reason="wandb is installed here")
def test_wandb_is_optional_and_its_absence_is_named_before_any_episode(refused, tmp_path):
    config = write_config(tmp_path / "eval.yaml")
    refused(
        ["eval", "--config", str(config), "--out", str(tmp_path / "run"), "--wandb", "--no-progress"],
        match=r"haggle\[wandb\]",
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["tiny-cpu", "scripted", "qwen3-8b"])
def test_repository_configs_load_with_the_slurm_variables(name, monkeypatch):
    from haggle.eval.eval_config import EvalConfig

    monkeypatch.setenv("HAGGLE_SEED", "3")
    monkeypatch.setenv("HAGGLE_MODEL", "checkpoint-1000")
    config = EvalConfig.from_yaml(REPO / "configs/eval" / f"{name}.yaml")
    assert config.seed == 3 and len(config.opponents) >= 2
    if config.model.kind != "scripted":
        assert config.model.params["model"] == "checkpoint-1000"


def test_an_endpoint_model_is_evaluated_through_the_openai_client(capsys, tmp_path):
    """The model under test behind a real chat-completions server on 127.0.0.1 (serving the boulware policy):
    every episode is played over HTTP and, on the same scenarios, it scores what in-process boulware scores."""
    from haggle.eval.eval_config import EvalConfig
    from haggle.eval.eval_run import eval_scenarios

    from haggle.testing.chat_server import ChatServer, ServedModel

    with ChatServer({"served-boulware": ServedModel("boulware")}) as server:
        endpoint = {
            "name": "model",
            "kind": "openai",
            "params": {"model": "served-boulware", "base_url": server.base_url, "timeout": 5.0},
        }
        config = write_config(tmp_path / "endpoint.yaml", model=endpoint, episodes=6)
        server.register(eval_scenarios(EvalConfig.from_yaml(config)))
        served = run_eval(capsys, "--config", str(config), "--out", str(tmp_path / "endpoint"))
    scripted = write_config(tmp_path / "scripted.yaml", episodes=6)
    in_process = run_eval(capsys, "--config", str(scripted), "--out", str(tmp_path / "scripted"))["eval"]

    assert served["run"]["completed"] == served["eval"]["episodes_planned"] == 6 * 2 * 2
    assert served["run"]["usage"]["model"]["requests"] > 0 and served["run"]["requests"] > 0
    cells = {(c["opponent"], c["role"], c["tier"]): c for c in in_process["cells"]}
    for cell in served["eval"]["cells"]:
        twin = cells[(cell["opponent"], cell["role"], cell["tier"])]
        assert (cell["deal_rate"], cell["surplus_share"]) == (twin["deal_rate"], twin["surplus_share"])


def test_two_worker_processes_play_the_same_eval_as_one(capsys, tmp_path):
    config = write_config(tmp_path / "eval.yaml", episodes=12)
    one = run_eval(capsys, "--config", str(config), "--out", str(tmp_path / "one"), "--workers", "1")
    two = run_eval(capsys, "--config", str(config), "--out", str(tmp_path / "two"), "--workers", "2")
    assert two["run"]["completed"] == one["run"]["completed"] == 12 * 2 * 2
    assert two["eval"]["cells"] == one["eval"]["cells"]
