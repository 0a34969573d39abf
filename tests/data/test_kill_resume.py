"""kill -9 at three moments of a 2-worker tournament, then a resume: nothing lost, nothing duplicated, and the
same outcomes as an uninterrupted run of the same plan."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from haggle.data.episode_store import EpisodeStore
from haggle.data.tournament import TournamentConfig, run_tournament, tournament_jobs

from haggle.testing.chat_server import ServedModel

REPO = Path(__file__).resolve().parents[2]


def start_tournament(config_path: Path, run_dir: Path, workers: int) -> subprocess.Popen:
    command = ["tournament", "--config", str(config_path), "--out", str(run_dir), "--no-progress", "--json"]
    return subprocess.Popen(
        [sys.executable, "-m", "haggle.cli", *command, "--workers", str(workers)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the parent and its workers
    )


def wait_until_gone(group: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_two_workers_killed_three_times_resume_to_exactly_the_uninterrupted_outcomes(
    chat_server, tmp_path, endpoint_agent
):
    server = chat_server({"alpha": ServedModel("boulware"), "beta": ServedModel("conceder")}, delay=0.01)
    config = {
        "seed": 7,
        "episodes_per_pairing": 8,
        "concurrency": 4,
        "scenarios": {"tiers": [100, 1000], "no_zone_share": 0.0},
        "agents": [endpoint_agent("alpha", server), endpoint_agent("beta", server), {"name": "linear"}],
    }
    config_path = tmp_path / "tournament.yaml"
    config_path.write_text(yaml.safe_dump(config))
    jobs = tournament_jobs(TournamentConfig.from_mapping(config))
    server.register(job.scenario for job in jobs)
    assert len({job.episode_id for job in jobs}) == 48

    run_dir = tmp_path / "run"
    store = EpisodeStore(run_dir)
    seen_before_kill = []
    for kill_after, whole_group in ((4, True), (16, True), (28, False)):
        process = start_tournament(config_path, run_dir, workers=2)
        deadline = time.monotonic() + 60
        while store.count() < kill_after and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        # the whole job (a node going down), or the parent alone: its workers must notice and stop too
        os.killpg(process.pid, signal.SIGKILL) if whole_group else os.kill(process.pid, signal.SIGKILL)
        process.communicate()
        assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
        assert wait_until_gone(process.pid, 5), "a worker outlived its killed parent"
        seen_before_kill.append(store.count())
    assert seen_before_kill == sorted(seen_before_kill) and seen_before_kill[-1] < 48

    final = start_tournament(config_path, run_dir, workers=2)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    summary = json.loads(out)["summary"]
    assert (summary["already_done"], summary["completed"]) == (
        seen_before_kill[-1],
        48 - seen_before_kill[-1],
    )

    records = list(EpisodeStore(run_dir).records())
    assert sorted(r["episode_id"] for r in records) == sorted(
        job.episode_id for job in jobs
    )  # 0 lost, 0 twice
    assert all(r["status"] == "ok" for r in records)
    uninterrupted, _ = run_tournament(
        TournamentConfig.from_mapping(config), tmp_path / "whole", progress=False
    )
    assert uninterrupted.completed == 48
    expected = {r["episode_id"]: r["outcome"] for r in EpisodeStore(tmp_path / "whole").records()}
    assert {r["episode_id"]: r["outcome"] for r in records} == expected
    files = [path for path in run_dir.rglob("*") if path.is_file()]
    assert len(files) <= 10, files
