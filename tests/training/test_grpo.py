"""GRPO: episode metrics, reporting set-up, and training/grpo.py run as a user runs it (tiny model, CPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.training.metrics_logging import (
    END_REASONS,
    configure_reporting,
    episode_metrics,
    with_episode_metrics,
)
from haggle.training.negotiation_env import environment_factory, opponent_from_spec
from haggle.training.rewards import RewardShaping, get_reward_funcs
from haggle.training.scenario_table import build_scenario_table

ROOT = Path(__file__).resolve().parents[2]
SAMPLER = ScenarioSampler(SamplerConfig(max_rounds=4))


def buyer_env():
    env = environment_factory(SAMPLER, {"conceder": opponent_from_spec({"name": "conceder"})})()
    rows = build_scenario_table(SAMPLER, 4, seed=5, opponents={"conceder": 1.0})
    row = next(row for row in rows if row["role"] == "buyer")
    env.reset(**row)
    return env


def call(name, **arguments):
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": name, "arguments": arguments}}],
    }


def test_metrics_of_a_deal():
    env = buyer_env()
    env.make_offer(price=1.0)  # a lowball, which the conceding seller counters
    env.accept_offer()
    outcome = env.negotiation.outcome
    assert outcome.deal and outcome.end_reason == "accepted"
    metrics = episode_metrics(env, [call("make_offer", price=1.0), call("accept_offer")], [0] * 50, 100)
    tier = env.scenario.price_tier
    assert metrics["episode/finished"] == 1.0 and metrics["episode/end/deal"] == 1.0
    assert metrics["episode/end/truncated"] == 0.0
    assert (
        metrics["episode/deal_rate"]
        == metrics["episode/deal_rate/buyer"]
        == metrics[f"episode/deal_rate/tier_{tier}"]
    )
    assert metrics["episode/deal_rate/opponent_conceder"] == 1.0  # the mix logs which opponent gave the deal
    assert metrics["episode/surplus_share/buyer"] == pytest.approx(outcome.surplus_share("buyer"))
    assert "episode/surplus_share/seller" not in metrics
    assert metrics["episode/tool_calls"] == 2.0 and metrics["episode/completion_tokens"] == 50.0
    assert metrics["episode/violations"] == 0.0 and metrics["episode/rounds"] == outcome.rounds


def test_metrics_tell_a_truncated_episode_from_a_stopped_one():
    env = buyer_env()
    env.make_offer(price=1.0)
    two_calls = {"role": "assistant", "tool_calls": [call("make_offer")["tool_calls"][0]] * 2}
    out_of_tokens = episode_metrics(env, [two_calls], [0] * 100, 100)
    assert out_of_tokens["episode/end/truncated"] == 1.0 and out_of_tokens["episode/end/stopped"] == 0.0
    assert out_of_tokens["episode/extra_calls"] == 1.0
    stopped = episode_metrics(env, [{"role": "assistant", "content": "I am done."}], [0] * 20, 100)
    assert stopped["episode/end/stopped"] == 1.0 and stopped["episode/end/truncated"] == 0.0
    assert stopped["episode/violations"] == 1.0 and "episode/surplus_share" not in stopped


def test_the_logged_reward_logs_per_episode_values_and_voids_opponent_failures_until_too_many_in_a_row():
    envs = [buyer_env(), buyer_env()]
    envs[0].walk_away()
    logged = []
    reward = with_episode_metrics(get_reward_funcs(["surplus_share"], RewardShaping())[0], 100, 3)
    rewards = reward(
        envs, [[call("walk_away")], []], [[0] * 10, [0] * 10], log_metric=lambda *kv: logged.append(kv)
    )
    assert rewards == pytest.approx([0.0, -2.0])
    assert ("reward/buyer", 0.0) in logged and ("reward/buyer", pytest.approx(-2.0)) in logged
    assert sum(name == "episode/deal_rate" for name, _ in logged) == 2
    assert ("episode/end/walk_away", 1.0) in logged and ("episode/end/stopped", 1.0) in logged

    envs[1].opponent_failure = ConnectionError("endpoint down")
    logged.clear()
    rewards = reward(envs, [[], []], [[], []], log_metric=lambda *kv: logged.append(kv))
    assert rewards[0] == 0.0 and rewards[1] is None  # voided (TRL masks None), the run goes on
    assert ("episode/end/opponent_failure", 1.0) in logged
    assert not any(name.startswith("reward/") and value is None for name, value in logged)
    failing = [envs[1], envs[1]]  # with the one before: 3 in a row
    with pytest.raises(RuntimeError, match="opponent failed in 3 episodes in a row"):
        reward(failing, [[], []], [[], []])


def test_reporting_needs_wandb_installed_only_when_asked_for(monkeypatch):
    configure_reporting("none")
    configure_reporting(["tensorboard"])
    monkeypatch.setattr("haggle.training.metrics_logging.find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"haggle\[wandb\]"):
        configure_reporting(["wandb"])


# -- training/grpo.py end to end ------------------------------------------------------------------------------
def completion_length_reward(completion_ids, **kwargs):
    """Differs between rollouts even for an untrained model, so that a step surely has advantages to follow."""
    return [len(ids) / 100 for ids in completion_ids]


VARYING_REWARD = ["--reward_funcs", "surplus_share", f"{__name__}.completion_length_reward"]


def run_grpo(*args):
    command = [sys.executable, "training/grpo.py", "--config", "configs/grpo/tiny-cpu.yaml", *map(str, args)]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent), str(ROOT), os.environ.get("PYTHONPATH", "")]
        ),
    }
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=environment)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout


def lora_weights(adapter_dir):
    from safetensors.torch import load_file

    return load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))


@pytest.mark.slow
def test_grpo_trains_a_fresh_lora_logs_episode_metrics_and_resumes(tiny_model_dir, tmp_path):
    out = tmp_path / "grpo"
    common = [
        "--model_name_or_path",
        tiny_model_dir,
        "--init_adapter",
        "",
        "--output_dir",
        out,
        *VARYING_REWARD,
    ]
    first = run_grpo(*common, "--max_steps", 2, "--save_steps", 2)
    assert "starting fresh" in first and "[step 2/2]" in first and "deal_rate" in first
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md"):
        assert (out / name).is_file(), name
    lora_b = [tensor for key, tensor in lora_weights(out).items() if "lora_B" in key]
    assert lora_b and any(tensor.abs().sum() > 0 for tensor in lora_b)  # B starts at zero: GRPO moved it

    logs = json.loads((out / "trainer_state.json").read_text())["log_history"]
    step_logs = [entry for entry in logs if "reward" in entry]
    assert len(step_logs) == 2
    per_step = (
        *(f"episode/end/{reason}" for reason in END_REASONS),
        "episode/deal_rate",
        "episode/violations",
        "episode/valid_tool_calls",
        "episode/turns",
        "episode/completion_tokens",
    )
    for key in per_step:
        assert all(key in step for step in step_logs), key
    for step in step_logs:  # each episode ends one way
        assert sum(step[f"episode/end/{reason}"] for reason in END_REASONS) == pytest.approx(1.0)
    logged_keys = {key for step in step_logs for key in step}
    assert {"episode/deal_rate/with_gains", "episode/deal_rate/without_gains"} <= logged_keys
    assert any(key.startswith("episode/deal_rate/tier_") for key in step_logs[0])
    assert any(key.startswith("episode/deal_rate/opponent_") for key in step_logs[0])
    assert any(key.startswith("reward/") and key.endswith(("buyer", "seller")) for key in step_logs[0])

    resumed = run_grpo(*common, "--max_steps", 3, "--save_steps", 2, "--resume")
    assert f"resuming from {out / 'checkpoint-2'}" in resumed and "[step 3/3]" in resumed
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert [entry["step"] for entry in state["log_history"] if "reward" in entry] == [1, 2, 3]


@pytest.mark.slow
def test_grpo_continues_the_sft_adapter(tiny_model_dir, sft_adapter_dir, tmp_path):
    common = [
        "--model_name_or_path",
        tiny_model_dir,
        "--init_adapter",
        sft_adapter_dir,
        "--output_dir",
        tmp_path,
    ]
    run_grpo(*common, "--max_steps", 1, *VARYING_REWARD)
    before, after = lora_weights(sft_adapter_dir), lora_weights(tmp_path)
    assert before.keys() == after.keys()  # the same adapter, trained further (not a new one)
    assert any(not before[key].equal(after[key]) for key in before)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert Path(config["base_model_name_or_path"]) == Path(tiny_model_dir)


# -- configs --------------------------------------------------------------------------------------------------
def parse_grpo(*args):
    from haggle.training.grpo import make_parser

    return make_parser().parse_args_and_config(["--config", *map(str, args)])


@pytest.mark.parametrize("name", ["qwen3-8b", "qwen3-14b"])
def test_gpu_configs_parse_and_take_the_vllm_server_flags(name):
    config = ROOT / f"configs/grpo/{name}.yaml"
    script, training, model = parse_grpo(config, "--bf16", "false")  # no GPU here to check bf16 against
    assert model.model_name_or_path.startswith("Qwen/Qwen3-") and training.use_vllm
    assert training.vllm_mode == "colocate" and script.init_adapter and script.held_out_opponents
    assert set(script.opponent_weights) == {"linear", "conceder", "tit_for_tat"}
    assert training.max_tool_calling_iterations > script.scenarios["max_rounds"] + script.max_violations
    _, server, _ = parse_grpo(
        config,
        "--bf16",
        "false",
        "--vllm_mode",
        "server",
        "--vllm_server_host",
        "10.0.0.7",
        "--vllm_server_port",
        "8123",
    )
    assert (server.vllm_mode, server.vllm_server_host, server.vllm_server_port) == (
        "server",
        "10.0.0.7",
        8123,
    )


@pytest.mark.parametrize("name", ["tiny-cpu", "qwen3-8b", "qwen3-14b"])
def test_shipped_configs_hold_a_full_length_episode_and_a_short_budget_is_refused(name, tiny_model_dir):
    """The start-up check counts a full-length episode (Boulware against Boulware to the round limit, text with
    every move, invalid moves): the tiny tokenizer writes digits one token each as Qwen3's does, and its small
    vocabulary counts more tokens than Qwen3's would."""
    from haggle.training.grpo_trainer import episode_budget, full_length_episode, refuse_short_budget
    from transformers import AutoTokenizer

    script, training, _ = parse_grpo(ROOT / f"configs/grpo/{name}.yaml", "--bf16", "false")
    sampler = ScenarioSampler(SamplerConfig.from_mapping(script.scenarios))
    messages = full_length_episode(sampler, script.max_violations)
    assert sum(message["role"] == "assistant" for message in messages) >= sampler.config.max_rounds
    budget = episode_budget(
        AutoTokenizer.from_pretrained(tiny_model_dir), messages, {"enable_thinking": False}
    )
    refuse_short_budget(budget, training, sampler.config.max_rounds)
    training.max_completion_length = budget.completion_tokens - 1
    with pytest.raises(ValueError, match=f"--max_completion_length {budget.completion_tokens} or more"):
        refuse_short_budget(budget, training, sampler.config.max_rounds)
    if training.use_vllm:
        training.max_completion_length, training.vllm_max_model_length = budget.completion_tokens, 1024
        with pytest.raises(ValueError, match="--vllm_max_model_length"):
            refuse_short_budget(budget, training, sampler.config.max_rounds)


def test_sleep_mode_with_tools_is_refused_unless_allowed():
    from haggle.training.grpo_trainer import refuse_broken_combinations

    _, training, _ = parse_grpo(ROOT / "configs/grpo/qwen3-8b.yaml", "--bf16", "false")
    refuse_broken_combinations(training, allow_sleep_mode_with_tools=False)  # the shipped config: off
    training.vllm_enable_sleep_mode = True
    with pytest.raises(ValueError, match="--vllm_enable_sleep_mode false"):
        refuse_broken_combinations(training, allow_sleep_mode_with_tools=False)
    refuse_broken_combinations(training, allow_sleep_mode_with_tools=True)


def test_grpo_turns_off_an_adapters_dropout_and_offers_tools_in_sft_order(tiny_model_dir, tmp_path):
    import datasets
    import torch
    from haggle.env.actions import tool_schemas
    from haggle.training.grpo_trainer import LockstepGRPOTrainer, disable_dropout
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraConfig(r=4, lora_dropout=0.05)
    )
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", num_generations=2, beta=0.0)
    disable_dropout(args)
    rows = build_scenario_table(SAMPLER, 2, seed=0, opponents={"linear": 1.0})
    trainer = LockstepGRPOTrainer(
        model=model,
        reward_funcs=get_reward_funcs(["surplus_share"], RewardShaping()),
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=AutoTokenizer.from_pretrained(tiny_model_dir),
        environment_factory=environment_factory(SAMPLER, {"linear": opponent_from_spec({"name": "linear"})}),
        tool_order=[tool["function"]["name"] for tool in tool_schemas()],
    )
    dropouts = [module for module in trainer.model.modules() if isinstance(module, torch.nn.Dropout)]
    assert dropouts and all(module.p == 0.0 for module in dropouts)
    assert [tool.__name__ for tool in trainer.tools] == [tool["function"]["name"] for tool in tool_schemas()]
