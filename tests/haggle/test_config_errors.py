"""A mistake in a config is one line on stderr and exit 2 in every command (issue 17): a missing file, a YAML
syntax error (file, line, column) and an unknown key (with "did you mean"); `--debug` shows the traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HAGGLE = [sys.executable, "-m", "haggle"]
# command -> (argv with CONFIG standing for the config, a built-in config of its kind to add an unknown key to)
COMMANDS = {
    "simulate": (
        [*HAGGLE, "simulate", "--buyer", "boulware", "--seller", "conceder", "--config", "CONFIG"],
        None,
    ),
    "play": ([*HAGGLE, "play", "--config", "CONFIG"], None),
    "theory": ([*HAGGLE, "theory", "--config", "CONFIG"], None),
    "tournament": ([*HAGGLE, "tournament", "--config", "CONFIG", "--out", "OUT"], "tournament/scripted-cpu"),
    "eval": ([*HAGGLE, "eval", "--config", "CONFIG", "--out", "OUT"], "eval/scripted"),
    "experiment run": ([*HAGGLE, "experiment", "run", "CONFIG", "--out", "OUT"], "experiments/disclosure"),
    "pipeline": ([*HAGGLE, "pipeline", "--config", "CONFIG", "--out", "OUT"], "pipeline/tiny-cpu"),
    "sft.py": ([sys.executable, str(ROOT / "training" / "sft.py"), "--config", "CONFIG"], "sft/tiny-cpu"),
    "grpo.py": ([sys.executable, str(ROOT / "training" / "grpo.py"), "--config", "CONFIG"], "grpo/tiny-cpu"),
}


def run(argv, config, tmp_path):
    argv = [str(config) if a == "CONFIG" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    return subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def assert_one_line(result, *expected):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for text in expected:
        assert text in result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_config_file_is_one_line(command, tmp_path):
    assert_one_line(
        run(COMMANDS[command][0], "no-such-config.yaml", tmp_path), "no-such-config.yaml", "not found"
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_a_yaml_syntax_error_names_file_line_and_column(command, tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("scenarios:\n  tiers: [low\n  max_rounds: 4\n")
    assert_one_line(run(COMMANDS[command][0], config, tmp_path), f"{config}:3:13: YAML syntax error")


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_key_is_named_with_a_near_miss(command, tmp_path):
    argv, builtin = COMMANDS[command]
    config = tmp_path / "unknown.yaml"
    base = (ROOT / "configs" / f"{builtin}.yaml").read_text() if builtin else ""
    key = "max_stepz" if command == "sft.py" else "scenarioz" if builtin is None else "seedz"
    config.write_text(f"{base}\n{key}: 1\n")
    assert_one_line(run(argv, config, tmp_path), repr(key))


def test_debug_shows_the_traceback(tmp_path):
    result = run([*HAGGLE, "theory", "--debug", "--config", "CONFIG"], "no-such-config.yaml", tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr
