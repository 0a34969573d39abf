"""SFT traces: one side's view per example, split by scenario, TRL's format, what the agent really saw."""

import asyncio
import copy
import json

import pytest
from datasets import load_from_disk
from haggle.data.agent_specs import AgentSpec, build_agent
from haggle.data.episode_store import EpisodeStore
from haggle.data.job_runner import EpisodeJob, episode_record, run_jobs_sync
from haggle.data.tournament import TournamentConfig, tournament_jobs
from haggle.data.traces import (
    ReplayError,
    TraceFilters,
    examples_from_records,
    replay_conversation,
    write_traces,
)
from haggle.env.episode_loop import play_episode
from haggle.env.scenario import SamplerConfig, ScenarioSampler

from haggle.cli import main
from haggle.testing.chat_server import FaultPlan, ServedModel

SCRIPTED = [{"name": "boulware"}, {"name": "conceder"}, {"name": "tit_for_tat"}, {"name": "hardliner"}]


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory):
    config = TournamentConfig.from_mapping(
        {
            "agents": SCRIPTED,
            "episodes_per_pairing": 12,
            "repetitions": 2,
            "scenarios": {"tiers": [10, 1000, 100000], "domains": ["abstract", "used_car"]},
        }
    )
    run_dir = tmp_path_factory.mktemp("scripted-run")
    summary = run_jobs_sync(tournament_jobs(config), EpisodeStore(run_dir), concurrency=4, progress=False)
    assert summary.completed == 12 * 2 * 12
    return run_dir


def test_dataset_loads_and_no_scenario_is_in_both_splits(scripted_run, tmp_path):
    manifest = write_traces([scripted_run], tmp_path / "traces", TraceFilters(), validation_fraction=0.25)
    dataset = load_from_disk(str(tmp_path / "traces"))
    assert set(dataset) == {"train", "validation"}
    train, validation = set(dataset["train"]["scenario_id"]), set(dataset["validation"]["scenario_id"])
    assert train and validation and not train & validation
    assert len(validation) == 3  # a quarter of the 12 scenarios
    assert manifest["counts"]["train"]["examples"] == len(dataset["train"])
    example = dataset["train"][0]
    assert [m["role"] for m in example["messages"][:3]] == ["system", "user", "assistant"]
    call = example["messages"][2]["tool_calls"][0]
    assert call["type"] == "function" and set(call["function"]["arguments"]) == {
        "price"
    }  # a dict, no padding
    assert json.loads(example["tools"])[0]["function"]["name"] == "make_offer"
    assert all(m["tool_call_id"] for m in example["messages"] if m["role"] == "tool")


def test_repeated_identical_dialogues_are_kept_once(scripted_run):
    records = list(EpisodeStore(scripted_run).records())
    kept = examples_from_records(records, TraceFilters())
    everything = examples_from_records(records, TraceFilters(dedupe=False))
    assert len(everything) == 2 * len(kept)  # deterministic strategies: each repetition repeats the dialogue


def test_an_example_never_depends_on_the_other_sides_private_value(scripted_run):
    """Non-interference: replay a side's chat with the other side's value changed: not one character moves."""
    for record in list(EpisodeStore(scripted_run).records())[:60]:
        for role, other_field in (("buyer", "seller_cost"), ("seller", "buyer_value")):
            changed = copy.deepcopy(record)
            changed["scenario"][other_field] = round(record["scenario"][other_field] * 0.77 + 1.23, 2)
            assert replay_conversation(changed, role) == replay_conversation(record, role)


def test_the_other_sides_value_appears_only_if_it_made_that_offer_in_public(scripted_run):
    for example in examples_from_records(EpisodeStore(scripted_run).records(), TraceFilters()):
        record = EpisodeStore(scripted_run).read(example["episode_id"])
        other = "seller" if example["role"] == "buyer" else "buyer"
        value = record["scenario"]["seller_cost" if other == "seller" else "buyer_value"]
        if value in record["outcome"]["offers"][other]:
            continue  # a time-dependent strategy ends on its reservation price: then it is public
        text = json.dumps(example, ensure_ascii=False)
        assert f"{value:,.2f}" not in text and f"{value:.2f}" not in text


def test_filters_select_what_they_say(scripted_run):
    records = list(EpisodeStore(scripted_run).records())
    chosen = examples_from_records(
        records,
        TraceFilters(
            roles=("buyer",),
            agents=("boulware", "tit_for_tat"),
            tier_names=("1k",),
            deals_only=True,
            min_surplus_share=0.5,
        ),
    )
    assert chosen
    for example in chosen:
        record = next(r for r in records if r["episode_id"] == example["episode_id"])
        assert example["role"] == "buyer" and example["agent"] in ("boulware", "tit_for_tat")
        assert example["price_tier"] == "1k" and record["outcome"]["deal"]
        assert record["outcome"]["buyer_surplus_share"] >= 0.5


def test_the_right_exit_is_kept_beside_the_good_deals_when_asked(scripted_run, tmp_path):
    """Deals-only data never show leaving a trade that has no gains, so a model trained on them has no honest exit
    (the learning study's GRPO learned to forfeit instead). `--no-deal-without-gains` adds exactly those sides."""
    records = list(EpisodeStore(scripted_run).records())
    good_deals = TraceFilters(deals_only=True, min_surplus_share=0.5, no_violations=True)
    with_exits = TraceFilters(
        deals_only=True, min_surplus_share=0.5, no_violations=True, no_deal_without_gains=True
    )
    deals = examples_from_records(records, good_deals)
    both = examples_from_records(records, with_exits)
    assert all(example in both for example in deals)
    added = [example for example in both if example not in deals]
    assert added
    for example in added:
        record = next(r for r in records if r["episode_id"] == example["episode_id"])
        outcome, scenario = record["outcome"], record["scenario"]
        assert not outcome["deal"] and scenario["buyer_value"] <= scenario["seller_cost"]
        assert not (outcome["end_reason"] == "forfeit" and outcome["ended_by"] == example["role"])
    main(
        ["traces", str(scripted_run), "--out", str(tmp_path / "t"), "--deals-only", "--no-deal-without-gains"]
    )
    assert len(load_from_disk(str(tmp_path / "t"))["train"]) > 0


def test_the_trace_is_exactly_the_chat_the_llm_agent_held(chat_server, endpoint_agent, tmp_path):
    """What SFT trains on is what the agent saw, reasoning, violations and error replies included."""
    faults = FaultPlan(at={1: "think", 2: "garbage", 3: "malformed", 4: "text_call"})
    scenario = ScenarioSampler(SamplerConfig(tiers=[1000], no_zone_share=0.0)).sample(1, seed=5)[0]
    server = chat_server({"alpha": ServedModel("boulware", faults=faults)}, scenarios=[scenario])
    spec = AgentSpec.from_mapping(endpoint_agent("alpha-trace", server, model="alpha"))
    opponent = AgentSpec("linear")
    buyer, seller = build_agent(spec, "buyer", 1), build_agent(opponent, "seller", 2)
    episode = asyncio.run(play_episode(scenario, buyer, seller))
    record = episode_record(
        EpisodeJob("trace1", scenario, spec, opponent), episode, {"buyer": buyer, "seller": seller}, 1
    )
    record = json.loads(json.dumps(record))  # as stored on disk

    replayed = replay_conversation(record, "buyer")
    assert replayed == buyer.transcript.messages
    assert replayed[2]["reasoning_content"] == "My private reasoning about the price."
    assert replayed[2]["tool_calls"][0]["function"]["arguments"]["message"] == "Take it or leave it."
    roles = [m["role"] for m in replayed[:9]]
    assert roles == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert "Lorem ipsum" in replayed[4]["content"] and "tool_calls" not in replayed[4]  # garbage: no call
    assert replayed[5]["content"].startswith("Error: no tool call")  # so the user, not a tool, answers
    assert replayed[6]["tool_calls"][0]["function"]["arguments"] == '{"price": '  # malformed, kept as sent
    assert "not valid JSON" in replayed[7]["content"]
    assert replayed[8]["content"] == "Let me answer." and replayed[8]["tool_calls"]  # a call written as text

    # and so is the dataset row, after Arrow: dict arguments beside the broken string, no padded keys
    EpisodeStore(tmp_path / "run").write(record)
    write_traces(
        [tmp_path / "run"], tmp_path / "traces", TraceFilters(roles=("buyer",)), validation_fraction=0
    )
    row = load_from_disk(str(tmp_path / "traces"))["train"][0]["messages"]
    assert [{k: v for k, v in m.items() if v is not None} for m in row] == buyer.transcript.messages

    without = replay_conversation(record, "buyer", include_reasoning=False)
    assert not any("reasoning_content" in m for m in without)


def test_mechanism_rows_of_an_experiment_run_are_skipped(refused, tmp_path, capsys):
    """Experiment runs store k-double-auction and posted-price rows beside the dialogues: no chat to train on."""
    preset = tmp_path / "preset.yaml"
    preset.write_text(
        "name: mixed\nepisodes: 6\nscenarios: {tiers: [100], max_rounds: 4}\nmodels: [{name: linear}]\n"
        "mechanisms: [{name: cs, mechanism: k_double_auction}, {name: mid, mechanism: posted_price}]\n"
    )
    run_dir, out = tmp_path / "run", tmp_path / "traces"
    assert main(["experiment", "run", str(preset), "--out", str(run_dir), "--no-progress"]) == 0
    capsys.readouterr()
    records = list(EpisodeStore(run_dir).records())
    assert sum(record["metadata"]["row_kind"] == "mechanism" for record in records) == 12
    assert main(["traces", str(run_dir), "--out", str(out), "--validation-fraction", "0", "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["episodes_read"] == 18 and manifest["mechanism_rows_skipped"] == 12
    rows = load_from_disk(str(out))["train"]
    assert set(rows["agent"]) == {"linear"} and len(set(rows["episode_id"])) <= 6
    # only mechanism rows: nothing to train on, and the error says why
    only = tmp_path / "only-mechanisms"
    only.mkdir()
    store = EpisodeStore(only)
    for record in records:
        if record["metadata"]["row_kind"] == "mechanism":
            store.write(record)
    refused(
        ["traces", str(only), "--out", str(tmp_path / "none")],
        match="12 episodes read, 12 of them mechanism rows",
    )


def test_an_llm_side_stored_under_other_prompts_is_refused_not_misrendered(scripted_run):
    record = copy.deepcopy(next(EpisodeStore(scripted_run).records()))
    record["prompt_version"] = "0"
    assert examples_from_records([record], TraceFilters())  # scripted sides read no prompt: still replayable
    record["agents"]["buyer"] |= {"name": "some-llm", "kind": "openai", "strategy": None}
    with pytest.raises(ReplayError, match="prompt version 0"):
        examples_from_records([record], TraceFilters())
    assert examples_from_records([record], TraceFilters(roles=("seller",)))
