"""GRPO: episode metrics, reporting set-up, and training/grpo.py run as a user runs it (tiny model, CPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.training.metrics_logging import configure_reporting, episode_metrics, with_episode_metrics
from haggle.training.negotiation_env import environment_factory, opponent_from_spec
from haggle.training.rewards import RewardShaping, get_reward_funcs
from haggle.training.scenario_table import build_scenario_table

ROOT = Path(__file__).resolve().parents[2]
SAMPLER = ScenarioSampler(SamplerConfig(max_rounds=4))


def buyer_env():
    env = environment_factory(SAMPLER, opponent_from_spec({"name": "conceder"}))()
    row = next(row for row in build_scenario_table(SAMPLER, 4, seed=5) if row["role"] == "buyer")
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
    assert metrics["episode/finished"] == 1.0 and metrics["episode/truncated"] == 0.0
    assert (
        metrics["episode/deal_rate"]
        == metrics["episode/deal_rate/buyer"]
        == metrics[f"episode/deal_rate/tier_{tier}"]
    )
    assert metrics["episode/surplus_share/buyer"] == pytest.approx(outcome.surplus_share("buyer"))
    assert "episode/surplus_share/seller" not in metrics
    assert metrics["episode/tool_calls"] == 2.0 and metrics["episode/completion_tokens"] == 50.0
    assert metrics["episode/violations"] == 0.0 and metrics["episode/rounds"] == outcome.rounds


def test_metrics_tell_a_truncated_episode_from_a_stopped_one():
    env = buyer_env()
    env.make_offer(price=1.0)
    two_calls = {"role": "assistant", "tool_calls": [call("make_offer")["tool_calls"][0]] * 2}
    out_of_tokens = episode_metrics(env, [two_calls], [0] * 100, 100)
    assert out_of_tokens["episode/truncated"] == 1.0 and out_of_tokens["episode/stopped"] == 0.0
    assert out_of_tokens["episode/extra_calls"] == 1.0
    stopped = episode_metrics(env, [{"role": "assistant", "content": "I am done."}], [0] * 20, 100)
    assert stopped["episode/stopped"] == 1.0 and stopped["episode/truncated"] == 0.0
    assert stopped["episode/violations"] == 1.0 and "episode/surplus_share" not in stopped


def test_the_logged_reward_logs_per_episode_values_and_refuses_opponent_failures():
    envs = [buyer_env(), buyer_env()]
    envs[0].walk_away()
    logged = []
    reward = with_episode_metrics(get_reward_funcs(["surplus_share"], RewardShaping())[0], 100)
    rewards = reward(
        envs, [[call("walk_away")], []], [[0] * 10, [0] * 10], log_metric=lambda *kv: logged.append(kv)
    )
    assert rewards == pytest.approx([0.0, -2.0])
    assert ("reward/buyer", 0.0) in logged and ("reward/buyer", pytest.approx(-2.0)) in logged
    assert sum(name == "episode/deal_rate" for name, _ in logged) == 2
    envs[1].opponent_failure = ConnectionError("endpoint down")
    with pytest.raises(RuntimeError, match="opponent failed in 1 episode"):
        reward(envs, [[], []], [[], []])


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
    for key in ("episode/deal_rate", "episode/violations", "episode/truncated", "episode/completion_tokens"):
        assert key in step_logs[0], key
    assert any(key.startswith("episode/deal_rate/tier_") for key in step_logs[0])
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
    assert training.vllm_mode == "colocate" and script.init_adapter and script.opponent == {"name": "linear"}
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


def completion_text(tokenizer, conversation):
    """The completion GRPO generates for this conversation: everything after the prompt, tool replies included."""
    from trl.chat_template_utils import get_training_chat_template

    template = get_training_chat_template(tokenizer)  # TRL trains multi-turn on the prefix-preserving variant
    kwargs = {"tools": json.loads(conversation["tools"]), "chat_template": template, "enable_thinking": False}
    messages = conversation["messages"]
    prompt = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True, **kwargs)
    full = tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)
    assert full.startswith(prompt)
    return full[len(prompt) :]


@pytest.mark.parametrize("name", ["tiny-cpu", "qwen3-8b", "qwen3-14b"])
def test_completion_budget_covers_a_whole_episode(name, tiny_model_dir, expert_conversation):
    """A scripted episode that runs to the round limit, plus 25% for invalid moves, fits max_completion_length:
    counted with the tiny tokenizer for the CPU config, and at 3 characters a token for Qwen3 (its tokenizer
    writes digits one token each, so negotiation text runs below the usual ~4)."""
    from transformers import AutoTokenizer

    script, training, _ = parse_grpo(ROOT / f"configs/grpo/{name}.yaml", "--bf16", "false")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    scenario = ScenarioSampler(SamplerConfig.from_mapping(script.scenarios)).sample(5, seed=2)[
        -1
    ]  # the $100k tier
    conversation = expert_conversation(scenario, "buyer", expert="boulware", opponent="boulware")
    assert sum(message["role"] == "assistant" for message in conversation["messages"]) == scenario.max_rounds
    text = completion_text(tokenizer, conversation)
    tokens = len(tokenizer(text)["input_ids"]) if name == "tiny-cpu" else len(text) / 3
    assert 1.25 * tokens <= training.max_completion_length
