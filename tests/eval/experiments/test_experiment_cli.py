"""`haggle experiment run|report` on every preset, as a user runs them: scripted agents on CPU, then the tiny model."""

from pathlib import Path

import pytest
from haggle.data.episode_store import EpisodeStore

from haggle.cli import main

PRESET_DIR = Path(__file__).resolve().parents[3] / "configs" / "experiments"
PRESETS = sorted(PRESET_DIR.glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda path: path.stem)
def test_each_preset_runs_end_to_end_with_scripted_agents(preset, tmp_path, capsys):
    out = tmp_path / preset.stem
    assert (
        main(["experiment", "run", str(preset), "--out", str(out), "--episodes", "12", "--no-progress"]) == 0
    )
    assert "episodes stored" in capsys.readouterr().out
    assert main(["experiment", "report", str(out)]) == 0
    markdown = capsys.readouterr().out
    assert "trade rate [95%]" in markdown and "efficiency [95%]" in markdown and "χ²" in markdown
    assert markdown.startswith((out / "report.md").read_text() + "\n")
    assert f"wrote {out / 'report.md'}, {out / 'report.json'} and plots" in markdown  # says where it wrote
    assert (out / "trade_rate.png").stat().st_size > 0 and (out / "efficiency.png").stat().st_size > 0
    # resuming the finished run finds everything stored
    stored = sum(1 for _ in EpisodeStore(out).records())
    assert (
        main(["experiment", "run", str(preset), "--out", str(out), "--episodes", "12", "--no-progress"]) == 0
    )
    assert f"{stored}/{stored} episodes stored" in capsys.readouterr().out


def test_errors_say_what_to_do(refused, tmp_path, capsys):
    refused(["experiment", "report", str(tmp_path)], match="not an experiment run directory")
    refused(
        ["experiment", "run", str(PRESETS[0]), "--out", str(tmp_path / "x"), "--variant", "huge"],
        match="unknown variant",
    )
    assert main(["experiment", "run", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "y")]) == 2
    assert "config file not found" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS, ids=lambda path: path.stem)
def test_each_preset_runs_with_the_tiny_model(preset, tmp_path, tiny_model_dir, monkeypatch, capsys):
    monkeypatch.setenv("HAGGLE_TINY_MODEL", str(tiny_model_dir))
    out = tmp_path / preset.stem
    args = ["experiment", "run", str(preset), "--variant", "tiny", "--out", str(out), "--episodes", "2"]
    assert main([*args, "--no-progress", "--report"]) == 0
    report = (out / "report.md").read_text()
    assert "tiny-qwen3" in report and "trade rate [95%]" in report
