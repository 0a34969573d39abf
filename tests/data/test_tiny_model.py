"""The tiny local Qwen3 on CPU: it plays a whole tournament, and the traces render with its chat template and
train with TRL's SFTTrainer as they are."""

import json
from pathlib import Path

import pytest
from datasets import load_from_disk
from haggle.data.episode_store import EpisodeStore
from haggle.data.job_runner import run_jobs_sync
from haggle.data.tournament import TournamentConfig, tournament_jobs
from haggle.data.traces import TraceFilters, write_traces

from haggle.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "tournament"


@pytest.fixture(scope="module")
def traces_dir(tmp_path_factory):
    """A scripted run (in `traces_dir.parent / "run"`) exported as SFT traces."""
    config = TournamentConfig.from_mapping(
        {
            "agents": [{"name": "boulware"}, {"name": "conceder"}, {"name": "linear"}],
            "episodes_per_pairing": 4,
            "scenarios": {"tiers": [100, 10_000], "no_zone_share": 0.0},
        }
    )
    root = tmp_path_factory.mktemp("traces")
    run_dir = root / "run"
    run_jobs_sync(tournament_jobs(config), EpisodeStore(run_dir), concurrency=4, progress=False)
    out = root / "dataset"
    write_traces([run_dir], out, TraceFilters(deals_only=True), validation_fraction=0.25)
    return out


@pytest.mark.slow
def test_the_tiny_model_plays_a_whole_tournament_on_cpu(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HAGGLE_TINY_MODEL", str(tiny_model_dir))
    run_dir = tmp_path / "run"
    code = main(
        [
            "tournament",
            "--config",
            str(CONFIGS / "tiny-model.yaml"),
            "--out",
            str(run_dir),
            "--no-progress",
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["summary"]["failed"] == 0
    assert result["summary"]["completed"] == result["summary"]["jobs"] == 24
    records = list(EpisodeStore(run_dir).records())
    tiny_turns = [
        turn for r in records for turn in r["turns"] if r["agents"][turn["role"]]["name"] == "tiny-qwen3"
    ]
    assert tiny_turns and all(turn["raw_output"] is not None for turn in tiny_turns)
    assert all(turn["usage"]["completion_tokens"] <= 24 for turn in tiny_turns)
    assert result["summary"]["usage"]["tiny-qwen3"]["prompt_tokens"] > 0
    assert {e["agent"] for e in result["leaderboard"]["ranking"]} == {"tiny-qwen3", "boulware", "conceder"}


def test_traces_render_with_the_tiny_models_chat_template_and_hold_one_side_only(tiny_model_dir, traces_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    dataset = load_from_disk(str(traces_dir))
    store = EpisodeStore(traces_dir.parent / "run")
    for split in ("train", "validation"):
        for example in dataset[split]:
            text = tokenizer.apply_chat_template(
                example["messages"], tools=json.loads(example["tools"]), tokenize=False
            )
            for message in example["messages"]:
                for call in message["tool_calls"] or []:
                    rendered = json.dumps(call["function"]["arguments"], ensure_ascii=False)
                    assert (
                        f'<tool_call>\n{{"name": "{call["function"]["name"]}", "arguments": {rendered}}}'
                        in text
                    )
                if message["role"] == "tool":
                    assert f"<tool_response>\n{message['content']}\n</tool_response>" in text
            assert (
                '"name": "make_offer"' in text.split("<|im_end|>")[0]
            )  # the tool schemas, in the system turn

            record = store.read(example["episode_id"])
            other = "seller" if example["role"] == "buyer" else "buyer"
            value = record["scenario"]["seller_cost" if other == "seller" else "buyer_value"]
            if value not in record["outcome"]["offers"][other]:  # unless that side said it in public
                assert f"{value:,.2f}" not in text


@pytest.mark.slow
def test_sft_trainer_takes_the_dataset_as_it_is(tiny_model_dir, traces_dir, tmp_path):
    from trl import SFTConfig, SFTTrainer

    dataset = load_from_disk(str(traces_dir))
    args = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        max_steps=2,
        per_device_train_batch_size=2,
        assistant_only_loss=True,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        use_cpu=True,
        max_length=None,
        eval_strategy="steps",
        eval_steps=2,
        per_device_eval_batch_size=2,
    )
    trainer = SFTTrainer(
        model=str(tiny_model_dir),
        args=args,
        train_dataset=dataset["train"],
        eval_dataset=dataset["validation"],
    )
    labels = trainer.train_dataset[0]["labels"]
    assert 0 < sum(label != -100 for label in labels) < len(labels)  # loss on the assistant's turns only
    trained = trainer.processing_class.decode([token for token in labels if token != -100])
    assert "<tool_call>" in trained and "You are the" not in trained
    result = trainer.train()
    assert result.global_step == 2 and result.training_loss > 0
