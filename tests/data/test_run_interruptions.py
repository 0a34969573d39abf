"""What a user sees when a run is cut short or a model gives up: one clear line each, never a traceback."""

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from haggle.data.episode_store import EpisodeStore
from haggle.data.tournament import TournamentConfig, tournament_jobs

from haggle.cli import main
from haggle.testing.chat_server import FaultPlan, ServedModel

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def ctrl_c_reaches_children() -> Iterator[None]:
    """A suite started in the background by a script (`cmd &`) has SIGINT ignored, and an ignored signal stays
    ignored across exec: the child would never see the Ctrl-C sent to it. A terminal's Ctrl-C reaches a process
    whose SIGINT is at its default, and a handled signal is reset to the default on exec, so start it that way."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_says_in_one_line_what_was_saved_and_how_to_resume(
    chat_server, tmp_path, endpoint_agent, workers
):
    """Defect 6: Ctrl-C printed a 111-line KeyboardInterrupt/CancelledError traceback."""
    server = chat_server({"alpha": ServedModel("boulware")}, delay=0.05)
    config = tmp_path / "tournament.yaml"
    agents = [endpoint_agent("alpha", server), {"name": "linear"}]
    mapping = {"agents": agents, "episodes_per_pairing": 200, "concurrency": 4}
    config.write_text(yaml.safe_dump(mapping))
    server.register(job.scenario for job in tournament_jobs(TournamentConfig.from_mapping(mapping)))
    run_dir = tmp_path / "run"
    command = ["tournament", "--config", str(config), "--out", str(run_dir), "--workers", str(workers)]
    with ctrl_c_reaches_children():
        process = subprocess.Popen(
            [sys.executable, "-m", "haggle.cli", *command], cwd=REPO, stderr=subprocess.PIPE, text=True
        )
    store = EpisodeStore(run_dir)
    try:
        deadline = time.monotonic() + 60
        while store.count() < 3 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:  # a run that ignored the Ctrl-C must not go on beside the rest of the suite
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130, err
    assert "Traceback" not in err and "CancelledError" not in err
    saved = store.count()
    assert 3 <= saved < 400
    last = err.strip().splitlines()[-1]  # after what the progress bar drew
    assert last == (
        f"interrupted: {saved} finished episode(s) are saved in {run_dir}; "
        "rerun the same `haggle tournament` command to resume"
    )


def test_the_stop_message_of_a_failing_model_is_printed_once(chat_server, tmp_path, endpoint_agent, capsys):
    """Defect 7: the runner announced the stop, then the command printed it again."""
    server = chat_server({"down": ServedModel("linear", faults=FaultPlan(rates={"server_error": 1.0}))})
    stop_fast = {
        "retry": {"initial_delay": 0.001, "max_delay": 0.002, "max_retries": 1, "max_consecutive_failures": 2}
    }
    config = tmp_path / "tournament.yaml"
    agents = [endpoint_agent("down", server, **stop_fast), {"name": "boulware"}]
    config.write_text(yaml.safe_dump({"agents": agents, "episodes_per_pairing": 2, "concurrency": 2}))
    assert main(["tournament", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    stops = [line for line in err.splitlines() if "down" in line and "stopped" in line]
    assert len(stops) == 1, err
