"""SFT trains on the assistant turns GRPO renders (issue 11, finding 5): for the same `enable_thinking`, an SFT
example (traces with reasoning, loaded by training/sft.py, rendered with Qwen3's training template as SFTTrainer
renders it) is token for token the GRPO rollout of the same moves (TRL's prompt with its generation prompt, each
generated turn, and TRL's tool-reply suffixes)."""

import json

import datasets
import pytest
from haggle.env.actions import tool_schemas
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.training.grpo_trainer import LockstepGRPOTrainer
from haggle.training.negotiation_env import environment_factory, opponent_from_spec
from haggle.training.rewards import RewardShaping, get_reward_funcs
from haggle.training.scenario_table import build_scenario_table
from haggle.training.sft import load_sft_dataset
from transformers import AutoTokenizer
from trl import GRPOConfig
from trl.chat_template_utils import get_training_chat_template

SAMPLER = ScenarioSampler(SamplerConfig(max_rounds=4))
REASONING = "The seller is far above my value; I hold firm."


@pytest.fixture(scope="module")
def trainer(tiny_model_dir, tmp_path_factory):
    args = GRPOConfig(
        output_dir=str(tmp_path_factory.mktemp("grpo")), use_cpu=True, report_to="none", beta=0.0
    )
    return LockstepGRPOTrainer(
        model=str(tiny_model_dir),
        reward_funcs=get_reward_funcs(["surplus_share"], RewardShaping()),
        args=args,
        train_dataset=datasets.Dataset.from_list(
            build_scenario_table(SAMPLER, 2, seed=0, opponents={"linear": 1.0})
        ),
        processing_class=AutoTokenizer.from_pretrained(tiny_model_dir),
        environment_factory=environment_factory(SAMPLER, {"linear": opponent_from_spec({"name": "linear"})}),
        tool_order=[tool["function"]["name"] for tool in tool_schemas()],  # as training/grpo.py offers them
    )


def sft_example(expert_conversation, tmp_path, thinking):
    """A trace with reasoning in every assistant turn, cut after its second move, as training/sft.py loads it."""
    scenario = SAMPLER.sample(1, seed=4)[0]
    row = expert_conversation(scenario, "buyer")
    assistants = [i for i, message in enumerate(row["messages"]) if message["role"] == "assistant"]
    row["messages"] = row["messages"][: assistants[1] + 1]
    for i in assistants[:2]:
        row["messages"][i]["reasoning_content"] = REASONING
    datasets.DatasetDict({"train": datasets.Dataset.from_list([row])}).save_to_disk(str(tmp_path / "traces"))
    return load_sft_dataset(str(tmp_path / "traces"), None, {"enable_thinking": thinking})["train"][0]


def sft_render(tokenizer, example):
    """What SFTTrainer tokenizes with `assistant_only_loss` (its training template, the example's kwargs)."""
    return tokenizer.apply_chat_template(
        example["messages"],
        tools=json.loads(example["tools"]),
        chat_template=get_training_chat_template(tokenizer),
        tokenize=False,
        **example["chat_template_kwargs"],
    )


def grpo_render(trainer, messages, thinking):
    """The same moves as a GRPO rollout: TRL's prompt ids, then per move the generated text (the model writes its
    think block only with thinking on) and TRL's tool-reply suffix."""
    tokenizer = trainer.processing_class
    trainer.chat_template_kwargs = {"enable_thinking": thinking}
    trainer._batch_environments = [None]
    first = next(i for i, message in enumerate(messages) if message["role"] == "assistant")
    ids = list(trainer._tokenize_prompts([messages[:first]])[0][0])
    for i in range(first, len(messages)):
        message = messages[i]
        if message["role"] == "assistant":
            think = f"<think>\n{message['reasoning_content']}\n</think>\n\n" if thinking else ""
            call = message["tool_calls"][0]["function"]
            generated = (
                f'{think}<tool_call>\n{{"name": "{call["name"]}", "arguments": {call["arguments"]}}}\n'
                f"</tool_call>{tokenizer.eos_token}"
            )
            ids += tokenizer(generated, add_special_tokens=False)["input_ids"]
        else:
            ids += trainer._get_tool_suffix_ids(
                [{"role": "tool", "name": "x", "content": message["content"]}]
            )
    return tokenizer.decode(ids)


@pytest.mark.parametrize("thinking", [False, True])
def test_an_sft_example_renders_as_the_grpo_rollout_of_the_same_moves(
    thinking, trainer, expert_conversation, tmp_path
):
    example = sft_example(expert_conversation, tmp_path, thinking)
    sft = sft_render(trainer.processing_class, example)
    grpo = grpo_render(trainer, example["messages"], thinking)
    assert sft.startswith(grpo)  # after the last move, SFT renders the turn's end; the rollout stops at it
    assert (REASONING in sft) == thinking and sft.count("<think>") == 2
