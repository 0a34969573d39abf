"""Every cheap command of README.md's code blocks runs as written on a CPU machine (issue 17), from a directory
that is not the repository: the configs they name are found in the package. Training and eval are left to their
own tests; the tournament gets fewer episodes."""

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHEAP = (
    "haggle simulate",
    "haggle play",
    "haggle theory",
    "haggle tournament",
    "haggle traces",
    "haggle configs",
    "haggle tiny-model",
    "DRY_RUN=1 bash slurm/",
    "haggle bench run --suite v1 --model boulware",
    "haggle bench leaderboard runs/bench/boulware",
)
FEWER_EPISODES = {"haggle tournament": ["--episodes-per-pairing", "6", "--no-progress"]}


def readme_commands() -> list[str]:
    """The command lines of the README's bash blocks, without their trailing comments."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    lines = [line.split(" # ")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def test_the_readme_shows_the_cheap_commands():
    commands = readme_commands()
    for prefix in CHEAP:
        assert any(command.startswith(prefix) for command in commands), prefix


@pytest.mark.slow
def test_every_cheap_readme_command_runs_as_written(tmp_path):
    """In README order, in one directory: `haggle traces` reads the tournament the line before it wrote."""
    ran = []
    for command in readme_commands():
        prefix = next((p for p in CHEAP if command.startswith(p)), None)
        if prefix is None:
            continue
        words = shlex.split(command)
        environment = dict(os.environ)
        while "=" in words[0]:
            name, _, value = words.pop(0).partition("=")
            environment[name] = value
        words += FEWER_EPISODES.get(prefix, [])
        cwd = ROOT if words[0] == "bash" else tmp_path  # the SLURM scripts run from the repository root
        result = subprocess.run(words, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        ran.append(prefix)
    assert set(ran) == set(CHEAP)
