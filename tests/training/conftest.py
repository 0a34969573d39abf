"""Shared training fixtures: a small SFT dataset of expert dialogues and one SFT adapter trained on it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from haggle.data.transcript import scripted_transcripts
from haggle.env.actions import tool_schemas
from haggle.env.agents.base import create_agent
from haggle.env.scenario import SamplerConfig, ScenarioSampler, other_role

ROOT = Path(__file__).resolve().parents[2]


def expert_conversation(scenario, role, expert="boulware", opponent="linear", seed=0):
    """One side's chat as `data.transcript` holds it, tool-call arguments as JSON text (as Arrow stores them)."""
    agents = {
        role: create_agent(expert, role=role, seed=seed),
        other_role(role): create_agent(opponent, role=other_role(role), seed=seed),
    }
    messages = scripted_transcripts(scenario, agents)[role]
    for message in messages:
        for call in message.get("tool_calls", []):
            call["function"]["arguments"] = json.dumps(call["function"]["arguments"])
    return {"messages": messages, "tools": json.dumps(tool_schemas())}


@pytest.fixture(scope="session")
def sft_dataset_dir(tmp_path_factory):
    import datasets

    scenarios = ScenarioSampler(SamplerConfig(max_rounds=4)).sample(48, seed=0)
    rows = [expert_conversation(s, role) for s in scenarios for role in ("buyer", "seller")]
    path = tmp_path_factory.mktemp("traces")
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(rows[:88]), "validation": datasets.Dataset.from_list(rows[88:])}
    ).save_to_disk(str(path))
    return path


def sft_timeout(args) -> float:
    """Seconds for one tiny SFT run, sized from its steps (a loaded 2-core machine runs ~10x slower than an idle
    one, so a fixed limit fails there): a start-up allowance plus a generous per-step budget."""
    args = list(map(str, args))
    steps = int(args[args.index("--max_steps") + 1]) if "--max_steps" in args else 60  # tiny-cpu.yaml's
    return 300 + 20 * steps


def _run_sft(*args):
    command = [sys.executable, "training/sft.py", "--config", "configs/sft/tiny-cpu.yaml", *map(str, args)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=sft_timeout(args))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout


@pytest.fixture(scope="session")
def sft_adapter_dir(tiny_model_dir, sft_dataset_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft-adapter")
    _run_sft("--model_name_or_path", tiny_model_dir, "--dataset_name", sft_dataset_dir, "--output_dir", out)
    return out


@pytest.fixture
def run_sft():
    """Run training/sft.py with the tiny-cpu config plus overrides; returns its stdout."""
    return _run_sft


@pytest.fixture(name="expert_conversation")
def expert_conversation_fixture():
    """`expert_conversation(scenario, role, expert=, opponent=, seed=)` for tests that need one dialogue."""
    return expert_conversation
