"""The stop after too many opponent failures in a row is collective: with 2 training processes (torchrun, gloo, CPU)
every process raises the same error at the same reward call, and none is left waiting in the next collective.

Run as a script, this file is the training process torchrun starts. It calls the logged reward function once per
"step" with stand-in environments whose opponent failed or not as the schedule says, then gathers across processes
as TRL's next step would. Each process writes what happened to `<rank>.json`.
"""

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
GLOO_TIMEOUT_S = 30  # a process left in a collective errors out after this, so nothing outlives the test
RUN_TIMEOUT_S = 120


def constant_reward(environments, **_):
    return [1.0] * len(environments)


def rollouts(schedule: str, rank: int) -> list[SimpleNamespace]:
    """`F`: the opponent failed, `S`: it answered."""
    failure = ConnectionError(f"rank {rank}: opponent endpoint down")
    return [SimpleNamespace(opponent_failure=failure if mark == "F" else None) for mark in schedule]


def play(result_dir: str, limit: str, *schedules: str) -> None:
    """Score each step of this rank's schedule (space-separated steps), each followed by TRL's next collective."""
    from accelerate import PartialState
    from accelerate.utils import gather_object
    from haggle.training.metrics_logging import with_episode_metrics

    rank = PartialState(cpu=True, timeout=timedelta(seconds=GLOO_TIMEOUT_S)).process_index
    reward = with_episode_metrics(constant_reward, 100, int(limit))
    record: dict[str, object] = {"rank": rank, "steps": 0}
    try:
        for step in schedules[rank].split():
            environments = rollouts(step, rank)
            rewards = reward(environments, [[]] * len(environments), [[]] * len(environments))
            assert rewards == [None if mark == "F" else 1.0 for mark in step]
            record["steps"] += 1
            gather_object(rewards)  # the next step's collectives (TRL gathers the rewards, then generates)
        leave_together()
    except Exception as error:
        record["error"] = f"{type(error).__name__}: {error}"
        raise
    finally:
        (Path(result_dir) / f"{rank}.json").write_text(json.dumps(record))


def leave_together() -> None:
    """Leave together: a process that exits while its peer is still in the last collective or in the rendezvous
    store makes torchrun fail a run that did everything right (seen once in CI on a loaded machine)."""
    import torch.distributed as dist

    dist.barrier()
    dist.destroy_process_group()


def run_two_processes(tmp_path: Path, limit: int, rank0: str, rank1: str) -> tuple[int, dict[int, dict], str]:
    """torchrun's exit status, each rank's record and the run's output; a run still going after RUN_TIMEOUT_S
    fails the test."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += [__file__, str(tmp_path), str(limit), rank0, rank1]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as run:
        try:
            output, _ = run.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)  # torchrun and the processes it started, which hang
            run.communicate()
            pytest.fail(f"a training process hung: still running after {RUN_TIMEOUT_S}s")
    missing = [rank for rank in (0, 1) if not (tmp_path / f"{rank}.json").exists()]
    assert not missing, f"rank {missing} wrote no record:\n{output[-3000:]}"
    records = {rank: json.loads((tmp_path / f"{rank}.json").read_text()) for rank in (0, 1)}
    return run.returncode, records, output[-3000:]


def test_one_process_losing_its_opponent_stops_every_process_at_the_same_step_with_one_error(tmp_path):
    """Rank 0's own successes break its streak; rank 1's do not: a process cut off from the endpoint stops the run."""
    returncode, records, output = run_two_processes(tmp_path, 3, "FF SF FS FF FF SS", "SS SS SS SS SS SS")
    assert returncode != 0, output
    assert records[0]["steps"] == records[1]["steps"] == 4  # both raised in the 5th reward call
    assert records[0]["error"] == records[1]["error"]
    message = records[0]["error"]
    assert message.startswith("OpponentError: the opponent failed in 4 episodes in a row over 2 processes")
    assert "(process 0: 4;" in message and "process 1" not in message
    assert "ConnectionError('rank 0: opponent endpoint down')" in message
    assert message.endswith("check the opponent endpoint from every node, then resume with --resume")


def test_failures_on_every_process_add_up(tmp_path):
    """An outage that fails every rollout stops after `limit` rollouts of the whole run, as with one process."""
    returncode, records, output = run_two_processes(tmp_path, 3, "FF SS", "FF SS")
    assert returncode != 0, output
    assert records[0]["steps"] == records[1]["steps"] == 0
    assert records[0]["error"] == records[1]["error"]
    assert "4 episodes in a row over 2 processes (process 0: 2, process 1: 2;" in records[0]["error"]


def test_failures_that_successes_on_their_own_process_break_do_not_stop_the_run(tmp_path):
    """The failures summed at each step stay below 3: rank 1's single failure does not add to rank 0's pairs."""
    returncode, records, output = run_two_processes(tmp_path, 3, "FF SS FF SS", "SS SF SS SS")
    assert records[0] == {"rank": 0, "steps": 4} and records[1] == {"rank": 1, "steps": 4}
    assert returncode == 0, output


if __name__ == "__main__":
    play(*sys.argv[1:])
