"""GRPO against an LLM opponent behind a real endpoint (`haggle.testing.chat_server` on 127.0.0.1): a request that
fails mid-step voids that one rollout (not scored, counted as `episode/end/opponent_failure`) and training goes on."""

import datasets
from haggle.env.negotiation import ProtocolRules
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.training.grpo_trainer import LockstepGRPOTrainer
from haggle.training.metrics_logging import with_episode_metrics
from haggle.training.negotiation_env import environment_factory, install_move_parser, opponent_from_spec
from haggle.training.rewards import RewardShaping, get_reward_funcs
from haggle.training.scenario_table import build_scenario_table
from transformers import AutoTokenizer
from trl import GRPOConfig
from trl.chat_template_utils import add_response_schema

from haggle.testing.chat_server import ChatServer, FaultPlan, ServedModel

# the seller opens, so every rollout starts with a request
SAMPLER = ScenarioSampler(SamplerConfig(max_rounds=4))


def test_an_opponent_request_failing_mid_step_voids_one_rollout_and_training_goes_on(
    tiny_model_dir, tmp_path
):
    rows = build_scenario_table(SAMPLER, 4, seed=0, opponents={"opponent": 1.0}, roles=["buyer"])
    failing = ServedModel("boulware", faults=FaultPlan(at={2: "server_error"}))  # the 2nd request of step 1
    with ChatServer({"opponent": failing}) as server:
        server.register(SAMPLER.draw(r["scenario_seed"], tier=r["tier"], domain=r["domain"]) for r in rows)
        opponent = {
            "name": "opponent",
            "kind": "openai",
            "params": {
                "model": "opponent",
                "base_url": server.base_url,
                "timeout": 5.0,
                "retry": {"max_retries": 0, "max_consecutive_failures": 100},
            },
        }
        rules = ProtocolRules(max_violations=2)
        tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir, padding_side="left")
        add_response_schema(tokenizer)
        install_move_parser(tokenizer, rules.actions)
        args = GRPOConfig(
            output_dir=str(tmp_path),
            use_cpu=True,
            max_steps=2,
            per_device_train_batch_size=4,
            num_generations=2,
            max_completion_length=96,
            max_tool_calling_iterations=3,
            chat_template_kwargs={"enable_thinking": False},
            report_to="none",
            save_strategy="no",
            logging_steps=1,
            beta=0.0,
            bf16=False,
        )
        reward = with_episode_metrics(
            get_reward_funcs(["surplus_share"], RewardShaping())[0], 96, max_opponent_failures=3
        )
        chats = []

        def record_chats(prompts, completions, **_):
            chats.extend(zip(prompts, completions, strict=True))
            return [0.0] * len(prompts)

        trainer = LockstepGRPOTrainer(
            model=str(tiny_model_dir),
            reward_funcs=[reward, record_chats],
            args=args,
            train_dataset=datasets.Dataset.from_list(rows),
            processing_class=tokenizer,
            environment_factory=environment_factory(
                SAMPLER, {"opponent": opponent_from_spec(opponent)}, rules, deferred=True
            ),
        )
        trainer.train()
    assert trainer.state.global_step == 2
    steps = [entry for entry in trainer.state.log_history if "episode/end/opponent_failure" in entry]
    assert len(steps) == 2
    assert steps[0]["episode/end/opponent_failure"] == 0.25  # one rollout of four, voided
    assert steps[1]["episode/end/opponent_failure"] == 0.0
    assert server.counts[("opponent", "server_error")] == 1
    assert server.counts[("opponent", "request")] >= 8  # every rollout's opening, both steps
    # the deferred replies were filled in before TRL tokenized and scored the chats
    scored = "".join(map(str, chats))
    assert "haggle-reply-" not in scored and scored.count("cannot be reached") == 1
