"""kill -9 in the middle of a tournament, several times: the rerun completes, nothing is lost or duplicated."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from haggle.data.episode_store import EpisodeStore
from haggle.data.tournament import TournamentConfig, tournament_jobs

from haggle.testing.chat_server import ServedModel

REPO = Path(__file__).resolve().parents[2]


def start_tournament(config_path: Path, run_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "haggle.cli",
            "tournament",
            "--config",
            str(config_path),
            "--out",
            str(run_dir),
            "--no-progress",
            "--json",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_killed_runs_resume_without_losing_or_duplicating_episodes(chat_server, tmp_path, endpoint_agent):
    server = chat_server({"alpha": ServedModel("boulware"), "beta": ServedModel("conceder")}, delay=0.01)
    config = {
        "seed": 7,
        "episodes_per_pairing": 10,
        "concurrency": 6,
        "scenarios": {"tiers": [100, 1000], "no_zone_share": 0.0},
        "agents": [endpoint_agent("alpha", server), endpoint_agent("beta", server), {"name": "linear"}],
    }
    config_path = tmp_path / "tournament.yaml"
    config_path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    store = EpisodeStore(run_dir)
    jobs = tournament_jobs(TournamentConfig.from_mapping(config))
    server.register(job.scenario for job in jobs)
    expected = {job.episode_id for job in jobs}
    assert len(expected) == 60

    seen_before_kill = []
    for kill_after in (5, 20, 35):  # episodes on disk before each kill -9
        process = start_tournament(config_path, run_dir)
        deadline = time.monotonic() + 60
        while (
            len(store.completed_ids()) < kill_after and process.poll() is None and time.monotonic() < deadline
        ):
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
        seen_before_kill.append(len(store.completed_ids()))

    final = start_tournament(config_path, run_dir)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    summary = json.loads(out)["summary"]
    assert (
        summary["already_done"] == seen_before_kill[-1] and summary["completed"] == 60 - seen_before_kill[-1]
    )

    records = list(EpisodeStore(run_dir).records())  # every file parses: no torn episode
    assert sorted(r["episode_id"] for r in records) == sorted(expected)
    assert not list(store.episode_dir.glob(".*.tmp"))  # the killed writers' temporaries are gone
    assert all(r["outcome"] is not None and r["status"] == "ok" for r in records)
    assert seen_before_kill == sorted(seen_before_kill)  # each rerun kept what the killed one had written
