"""TRL's GRPOTrainer made correct with several training processes, plus the start-up checks of a GRPO recipe.

TRL 1.16's multi-turn tool loop (`GRPOTrainer._tool_call_loop`) runs on each process on its own and generates once
per turn for the process's still-active rollouts only. Generation is collective in every multi-process recipe:
server mode gathers all prompts, broadcasts the completions and slices them by `process_index * len(prompts)`;
colocate with tensor parallelism all-gathers in its group; ZeRO-3 / FSDP gather parameters for every forward pass
and every weight sync (which sleep mode runs at every turn). So processes whose rollouts take different numbers of
turns, or have different numbers of rollouts still active, desynchronise: a collective mismatch, a hang, or
completions attached to another process's conversation.

`LockstepGRPOTrainer` keeps every process in step: before each post-tool generation the processes agree (max over
processes) on how many rollouts the round generates; each pads its share to that width with a one-token dummy
prompt and drops the padded outputs, and a process whose rollouts are all finished keeps joining rounds with a
fully padded share until every process is done. The cost is the dummies' generation (bounded by the longest real
completion of the round on vLLM, which batches them).

It also fills in the opponent replies that deferred environments (`training/negotiation_env.py`) stand in for
with placeholders, at the two places TRL reads tool results and reset observations: the prompts, before `_generate`
copies, tokenizes and (later) logs them, and each round's tool messages, before `_get_tool_suffix_ids` tokenizes
them. By then every rollout of the round has called its tool, so all opponents have been answering concurrently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from haggle.env.scenario import ROLES, ScenarioSampler
from haggle.training.negotiation_env import resolve_pending_replies
from trl import GRPOConfig, GRPOTrainer


class LockstepGRPOTrainer(GRPOTrainer):
    """`GRPOTrainer` whose tool loop issues the same generation collectives on every process, and whose tools are
    offered to the model in `tool_order` (Haggle's SFT and eval order) rather than TRL's alphabetical one."""

    def __init__(self, *args: Any, tool_order: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_tool_loop = False
        if tool_order:
            rank = {name: index for index, name in enumerate(tool_order)}
            by_order = lambda tools: sorted(tools, key=lambda tool: rank.get(tool.__name__, len(rank)))  # noqa: E731
            self.tools = by_order(self.tools)
            for name, tools in getattr(self, "_env_tools", {}).items():
                self._env_tools[name] = by_order(tools)

    def _generate(self, prompts: list[Any]) -> Any:
        for prompt in prompts:  # the reset observations, in place: TRL logs and scores these same prompts
            if isinstance(prompt, list):
                resolve_pending_replies(prompt)
        return super()._generate(prompts)

    def _get_tool_suffix_ids(self, tool_messages: list[dict[str, Any]]) -> list[int]:
        resolve_pending_replies(tool_messages)  # the same dicts as in the completions TRL scores and logs
        return cast(list[int], super()._get_tool_suffix_ids(tool_messages))

    def _tool_call_loop(self, *args: Any, **kwargs: Any) -> Any:
        self._in_tool_loop = True
        try:
            result = super()._tool_call_loop(*args, **kwargs)
            if self.accelerator.num_processes > 1:
                # this process is done: join the others' rounds with empty shares until all are done
                while (width := self._round_width(0)) > 0:
                    self._generate_padded([], None, width)
        finally:
            self._in_tool_loop = False
        return result

    def _generate_single_turn(
        self,
        prompt_ids: list[list[int]],
        images: Any,
        multimodal_fields: dict[str, Any],
        num_generations: int,
        has_tool_images: bool = False,
    ) -> tuple[list[list[int]], list[list[float]] | None]:
        if not self._in_tool_loop or self.accelerator.num_processes == 1:
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )
        if multimodal_fields or num_generations != 1:
            raise NotImplementedError(
                "lockstep tool rounds support text-only models (one completion per prompt)"
            )
        return self._generate_padded(prompt_ids, images, self._round_width(len(prompt_ids)))

    def _round_width(self, active: int) -> int:
        """The most rollouts any process generates this round (0: every process is done). Collective.

        Agreed over all processes, not per colocate TP group: equal shares are what TRL's slicing of the gathered
        answers assumes (`index * len(own prompts)`, by process in server mode, by rank in the TP group in colocate),
        and a world-wide width also keeps ZeRO-3's parameter gathers in step."""
        count = torch.tensor([active], device=self.accelerator.device)
        return int(self.accelerator.gather(count).max().item())

    def _generate_padded(
        self, prompt_ids: list[list[int]], images: list[Any] | None, width: int
    ) -> tuple[list[list[int]], list[list[float]] | None]:
        real = len(prompt_ids)
        dummy = [self._tokenizer.eos_token_id]
        padded = [*prompt_ids, *([dummy] * (width - real))]
        padded_images = None if images is None else [*images, *([None] * (width - real))]
        completion_ids, logprobs = super()._generate_single_turn(padded, padded_images, {}, 1)
        return completion_ids[:real], None if logprobs is None else logprobs[:real]


# -- start-up checks of a GRPO recipe ------------------------------------------------------------------------------
def refuse_broken_combinations(args: GRPOConfig, allow_sleep_mode_with_tools: bool) -> None:
    """Refuse, at start-up, recipes that cannot be correct or are known to be wrong, naming what works instead."""
    sleeping = args.use_vllm and args.vllm_mode == "colocate" and args.vllm_enable_sleep_mode
    if sleeping and not allow_sleep_mode_with_tools:
        raise ValueError(
            "vllm_enable_sleep_mode re-merges LoRA and re-syncs every weight at each tool turn of a multi-turn "
            "episode (slow, and bf16 merges drift the base weights): set --vllm_enable_sleep_mode false, or "
            "--allow_sleep_mode_with_tools true to use it anyway"
        )


def disable_dropout(args: GRPOConfig) -> None:
    """GRPO compares log-probs of the same tokens across passes and with vLLM's: dropout (e.g. an SFT adapter's
    lora_dropout) would make them disagree, so it is off whatever the adapter or the config says."""
    args.disable_dropout = True


@dataclass(frozen=True)
class EpisodeBudget:
    """Tokens of the longest episode a recipe can produce: the prompt and the multi-turn completion."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


REPLY_TEXT = "That is a fair point, but my budget is tight. I can move a little, here is my new offer."


def full_length_episode(sampler: ScenarioSampler, max_violations: int) -> list[dict[str, Any]]:
    """The chat of the longest episode: both sides holding out to the round limit (Boulware against Boulware),
    each move with two sentences of text, plus one invalid move short of forfeiting."""
    from haggle.data.transcript import scripted_transcripts
    from haggle.env.agents.base import create_agent

    scenarios = sampler.sample(8, seed=2)
    scenario = max(scenarios, key=lambda s: len(str(int(s.buyer_value))))  # the largest prices, most digits
    agents = {role: create_agent("boulware", role=role, seed=0) for role in ROLES}
    messages = scripted_transcripts(scenario, agents, content=REPLY_TEXT)["buyer"]
    first = next(i for i, message in enumerate(messages) if message["role"] == "assistant")
    extra = messages[first : first + 2] * max(max_violations - 1, 0)  # a move and its reply, repeated
    return [*messages[: first + 2], *extra, *messages[first + 2 :]]


def episode_budget(
    tokenizer: Any, messages: list[dict[str, Any]], chat_template_kwargs: dict[str, Any]
) -> EpisodeBudget:
    """Count the episode as GRPO renders it: TRL's prefix-preserving training template, the tools in SFT order."""
    from haggle.env.actions import tool_schemas
    from trl.chat_template_utils import get_training_chat_template

    kwargs = {"tools": tool_schemas(), "chat_template": get_training_chat_template(tokenizer)}
    kwargs.update(chat_template_kwargs)
    messages = json.loads(
        json.dumps(messages)
    )  # arguments may be JSON text or dicts; the template wants dicts
    for message in messages:
        for call in message.get("tool_calls", []):
            if isinstance(call["function"]["arguments"], str):
                call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    first_reply = next(i for i, message in enumerate(messages) if message["role"] == "assistant")
    prompt = tokenizer.apply_chat_template(
        messages[:first_reply], tokenize=False, add_generation_prompt=True, **kwargs
    )
    full = tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)
    prompt_tokens = len(tokenizer(prompt)["input_ids"])
    return EpisodeBudget(prompt_tokens, len(tokenizer(full)["input_ids"]) - prompt_tokens)


def refuse_short_budget(budget: EpisodeBudget, args: GRPOConfig, max_rounds: int) -> None:
    """Refuse a recipe whose completion (or colocated vLLM context) cannot hold a full-length episode."""
    if args.max_completion_length is None:
        raise ValueError("set --max_completion_length (the completion holds the whole episode)")
    if budget.completion_tokens > args.max_completion_length:
        raise ValueError(
            f"a {max_rounds}-round episode needs ~{budget.completion_tokens} completion tokens: set "
            f"--max_completion_length {budget.completion_tokens} or more (now {args.max_completion_length})"
        )
    needed = budget.prompt_tokens + args.max_completion_length
    limit = args.vllm_max_model_length
    if args.use_vllm and args.vllm_mode == "colocate" and limit is not None and limit < needed:
        raise ValueError(
            f"prompt ~{budget.prompt_tokens} + max_completion_length {args.max_completion_length} tokens: set "
            f"--vllm_max_model_length {needed} or more (now {args.vllm_max_model_length})"
        )
