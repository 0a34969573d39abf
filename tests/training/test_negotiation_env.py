"""The GRPO environment: tools derived from ACTION_SPECS, the opponent's answers, one scenario and one opponent per
group, and the weighted opponent mix of the scenario table."""

import asyncio
import inspect
import json
from collections import Counter

import datasets
import pytest
from haggle.data.agent_specs import AgentSpec, build_agent
from haggle.data.backends.base import Completion
from haggle.data.backends.reliability import ReliableBackend, RetryPolicy
from haggle.data.job_runner import EpisodeJob, episode_record
from haggle.data.llm_agent import LLMAgent
from haggle.data.traces import replay_conversation
from haggle.data.transcript import Transcript
from haggle.env.actions import DEFAULT_ACTIONS, DISCLOSE_VALUE, ToolCall, tool_schemas
from haggle.env.agents.base import Agent, AgentTurn, create_agent
from haggle.env.episode_loop import play_episode
from haggle.env.negotiation import ProtocolRules
from haggle.env.prompts import system_prompt
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.training.negotiation_env import environment_class, environment_factory, opponent_from_spec
from haggle.training.scenario_table import build_scenario_table
from transformers.utils import get_json_schema
from trl.trainer.utils import RepeatSampler

SAMPLER = ScenarioSampler(SamplerConfig(max_rounds=4, domains=["abstract", "used_car"]))


def trl_tools(env_class):
    """The methods GRPOTrainer exposes as tools (its own discovery rule)."""
    return {
        name
        for name, _ in inspect.getmembers(env_class, predicate=inspect.isfunction)
        if name not in ("reset", "get_reward") and not name.startswith("_")
    }


def scripted(*names):
    """The environment's opponents: scripted agents by name."""
    return {name: opponent_from_spec({"name": name}) for name in names}


def kind(agent):
    """What a scripted agent plays: its class and settings (linear and conceder differ only in `exponent`)."""
    return type(agent).__name__, {
        key: value for key, value in vars(agent).items() if key not in ("seed", "rng")
    }


def make_env(opponent="linear", rules=None):
    return environment_factory(SAMPLER, scripted(opponent), rules)()


def row_for(role, opponent="linear"):
    rows = build_scenario_table(SAMPLER, 8, seed=3, opponents={opponent: 1.0})
    return next(row for row in rows if row["role"] == role)


@pytest.mark.parametrize("actions", [DEFAULT_ACTIONS, (*DEFAULT_ACTIONS, DISCLOSE_VALUE)])
def test_tools_are_the_allowed_actions_with_the_eval_schema(actions):
    env_class = environment_class(actions)
    assert trl_tools(env_class) == set(actions)
    env = env_class(SAMPLER, scripted("linear"), ProtocolRules(actions=actions))
    # the schemas TRL renders into GRPO prompts (transformers' get_json_schema of each tool method) are exactly
    # the ones eval agents and SFT traces get, down to leaving out "required" when nothing is required
    derived = {name: get_json_schema(getattr(env, name)) for name in trl_tools(env_class)}
    assert derived == {schema["function"]["name"]: schema for schema in tool_schemas(actions)}
    assert "required" not in derived["accept_offer"]["function"]["parameters"]
    assert derived["make_offer"]["function"]["parameters"]["required"] == ["price"]


def test_opening_includes_the_opponents_first_move_and_each_call_gets_its_answer():
    env = make_env("linear")
    row = row_for("buyer")
    opening = env.reset(**row)
    assert env.scenario.first_mover == "seller" and "The seller offered" in opening
    assert env.negotiation.turn == "buyer" and "It is your turn" in opening
    price = env.scenario.value_low
    reply = env.make_offer(price=price)
    fmt = env.scenario.domain.format_price
    assert reply.startswith(f"Your offer of {fmt(price)} is on the table.\nThe seller offered")
    assert f"Your latest offer: {fmt(price)}" in reply
    assert env.negotiation.turn == "buyer"
    assert env.tool_calls == 1


def test_the_model_reads_exactly_what_an_eval_agent_reads():
    """The same game through the environment and through `data.transcript` (what LLM agents and SFT traces hold)."""
    env, transcript = make_env("linear"), Transcript()
    row = row_for("buyer")
    expert = create_agent("conceder", role="buyer", seed=0)
    read = [env.reset(**row)]
    moves = 0
    while not env.negotiation.done:
        view = env.negotiation.view("buyer")
        transcript.observe(view)
        move = expert.decide(view) if moves != 1 else ToolCall("make_offer", {"amount": 5})  # one bad call
        transcript.add_move("", move)
        read.append(getattr(env, move.name)(**move.arguments))
        moves += 1
    assert transcript.messages[0] == row["prompt"][0]
    eval_reads = [
        message["content"] for message in transcript.messages if message["role"] in ("user", "tool")
    ]
    assert (
        eval_reads == read[:-1] and len(eval_reads) >= 3
    )  # an eval agent is not asked again once it is over
    assert env.negotiation.violations["buyer"] == 1


class ScriptedCompletions:
    """A chat backend that answers with a fixed list of tool calls, whatever it is asked."""

    def __init__(self, calls):
        self.calls = list(calls)

    async def complete(self, messages, tools, seed):
        return Completion(text="", tool_calls=[self.calls.pop(0)])

    async def aclose(self):
        pass


def test_one_rendering_of_tool_replies_live_in_traces_and_in_grpo():
    """The same moves read the same replies in the LLM agent's live chat, in its SFT trace replayed from the stored
    record, and from the GRPO environment's tool methods: accepted, offer recorded, rejected, message sent, errors."""
    row = row_for("buyer")
    scenario = SAMPLER.draw(row["scenario_seed"], tier=row["tier"], domain=row["domain"])
    calls = [
        ToolCall("reject_offer", {"message": "Too high for me."}),
        ToolCall("make_offer", {"amount": 5}),  # a violation: the error is the reply
        ToolCall("make_offer", {"price": scenario.value_low}),
        ToolCall("send_message", {"text": "Meet me halfway?"}),
        ToolCall("accept_offer", {}),
    ]
    suffix = "You are the stronger party."
    spec = AgentSpec("scripted-llm", "openai", params={"model": "m", "system_prompt_suffix": suffix})
    opponent = AgentSpec("linear")
    buyer = LLMAgent(
        "buyer",
        1,
        name=spec.name,
        backend=ReliableBackend(spec.name, ScriptedCompletions(calls), RetryPolicy()),
        system_prompt_suffix=suffix,
    )
    seller = build_agent(opponent, "seller", row["opponent_seed"])
    episode = asyncio.run(play_episode(scenario, buyer, seller))
    assert episode.outcome.end_reason == "accepted" and episode.outcome.violations["buyer"] == 1
    job = EpisodeJob("three-ways", scenario, spec, opponent)
    record = json.loads(json.dumps(episode_record(job, episode, {"buyer": buyer, "seller": seller}, 1)))

    live = buyer.transcript.messages
    assert live[0]["content"].endswith(f"\n{suffix}")
    assert replay_conversation(record, "buyer") == live

    env = make_env("linear")
    grpo_reads = [env.reset(**row)] + [
        getattr(env, turn["move"]["name"])(**turn["move"]["arguments"])
        for turn in record["turns"]
        if turn["role"] == "buyer"
    ]
    live_reads = [message["content"] for message in live if message["role"] in ("user", "tool")]
    assert live_reads == grpo_reads[:-1]  # the LLM agent is not asked again once the deal is closed
    fmt = scenario.domain.format_price
    assert live_reads[1].startswith("You rejected the seller's offer.\nThe seller offered")
    assert live_reads[2].startswith("Error: 'make_offer' got unexpected argument(s): amount")
    assert live_reads[3].startswith(f"Your offer of {fmt(scenario.value_low)} is on the table.")
    assert live_reads[4].startswith("Message sent to the seller.")
    assert grpo_reads[-1].startswith(f"Deal closed at {fmt(episode.outcome.price)}.")


def test_bad_calls_reach_the_engine_as_violations_until_forfeit():
    env = make_env()
    env.reset(**row_for("buyer"))
    reply = env.make_offer(amount=5)
    assert reply.startswith("Error: 'make_offer' got unexpected argument(s): amount") and "your turn" in reply
    assert "missing required argument 'price'" in env.make_offer()
    assert env.negotiation.violations["buyer"] == 2 and not env.negotiation.done
    assert "The negotiation is over" in env.accept_offer(price=1)
    assert env.negotiation.outcome.end_reason == "forfeit"
    env.walk_away()
    assert env.calls_after_end == 1 and env.tool_calls == 4


def test_a_reset_starts_a_new_episode_from_the_row_alone():
    env = make_env("random")
    row = row_for("seller", "random")
    first_opening = env.reset(**row)
    first = env.make_offer(price=env.scenario.value_high)
    env.walk_away()
    assert env.reset(**row) == first_opening and env.tool_calls == 0 and not env.negotiation.done
    assert env.make_offer(price=env.scenario.value_high) == first


def test_a_row_whose_system_prompt_belongs_to_another_scenario_is_refused():
    env = make_env()
    row = dict(row_for("buyer"))
    row["scenario_seed"] += 1
    with pytest.raises(ValueError, match="system prompt was rendered from another scenario"):
        env.reset(**row)


def test_every_rollout_of_a_group_negotiates_the_same_deal_against_the_same_opponent():
    """Rows go through TRL's own sampler; each group's environments are reset from its rows, as the trainer does."""
    generations, groups = 4, 3
    mix = {"random": 1.0, "conceder": 1.0, "tit_for_tat": 1.0}
    dataset = datasets.Dataset.from_list(build_scenario_table(SAMPLER, 12, seed=11, opponents=mix))
    indices = list(RepeatSampler(dataset, mini_repeat_count=generations, batch_size=groups, seed=0))
    factory = environment_factory(SAMPLER, scripted(*mix))
    seen, faced = [], set()
    for start in range(0, groups * generations, generations):
        group = indices[start : start + generations]
        assert len(set(group)) == 1
        envs = [factory() for _ in group]
        openings = [env.reset(**dataset[index]) for env, index in zip(envs, group, strict=True)]
        # the same scenario, side and opening; then the same (seeded, random) opponent answers the same move
        assert len({repr(env.scenario.to_dict()) for env in envs}) == 1
        assert len({(env.role, env.opponent_seed, type(env.opponent)) for env in envs}) == 1
        row = dataset[group[0]]
        the_rows = create_agent(row["opponent"], role=envs[0].opponent.role, seed=row["opponent_seed"])
        assert {env.opponent_name for env in envs} == {row["opponent"]}
        assert all(kind(env.opponent) == kind(the_rows) for env in envs)
        faced.add(row["opponent"])
        assert len(set(openings)) == 1
        price = (envs[0].scenario.value_low + envs[0].scenario.value_high) / 2
        replies = {env.make_offer(price=price) for env in envs}
        assert len(replies) == 1
        assert (
            system_prompt(envs[0].negotiation.view(envs[0].role)) == dataset[group[0]]["prompt"][0]["content"]
        )
        seen.append(envs[0].scenario.scenario_id)
    assert len(set(seen)) == groups  # and different groups get different negotiations
    assert len(faced) > 1  # ... and here, different opponents


class EndpointLike(Agent):
    """An agent with its own async `act`, as LLM endpoint agents have; it decides like a scripted one."""

    def __init__(self, role, seed=0):
        super().__init__(role, seed)
        self.inner = create_agent("random", role=role, seed=seed)
        self.loops = set()

    async def act(self, view):
        self.loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0)
        return AgentTurn(self.inner.decide(view))


def test_endpoint_opponents_get_async_tools_that_match_the_scripted_game():
    async_factory = environment_factory(SAMPLER, {"random": EndpointLike})
    async_env, sync_env = async_factory(), make_env("random")
    assert inspect.iscoroutinefunction(async_env.make_offer)
    row = row_for("buyer", "random")
    assert async_env.reset(**row) == sync_env.reset(**row)
    price = async_env.scenario.value_low

    async def trainer_side():  # TRL awaits async tools on its own loop
        return await async_env.make_offer(price=price)

    assert asyncio.run(trainer_side()) == sync_env.make_offer(price=price)
    assert len(async_env.opponent.loops) == 1  # the opening and the answer ran on the one opponent loop


def test_a_mix_with_one_endpoint_opponent_gets_async_tools_and_its_scripted_rows_still_play():
    mixed = environment_factory(SAMPLER, {"random": EndpointLike, **scripted("linear")})()
    assert inspect.iscoroutinefunction(mixed.make_offer)
    row = row_for("buyer", "linear")
    assert mixed.reset(**row) == make_env("linear").reset(**row)
    assert kind(mixed.opponent) == kind(create_agent("linear", role="seller"))
    reply = asyncio.run(mixed.make_offer(price=mixed.scenario.value_low))
    assert reply.startswith("Your offer of") and "The seller offered" in reply


# -- the weighted opponent mix ----------------------------------------------------------------------------------
def test_rows_face_opponents_in_proportion_to_their_weights_and_fixed_by_the_table_seed():
    weights = {"linear": 1.0, "conceder": 2.0, "tit_for_tat": 3.0}
    rows = build_scenario_table(SAMPLER, 1800, seed=7, opponents=weights)
    faced = Counter(row["opponent"] for row in rows)
    for name, weight in weights.items():  # binomial standard error at n=1800 is at most 0.012
        assert faced[name] / len(rows) == pytest.approx(weight / sum(weights.values()), abs=0.04)
    again = build_scenario_table(SAMPLER, 60, seed=7, opponents=weights)
    assert [row["opponent"] for row in again] == [row["opponent"] for row in rows[:60]]
    other = build_scenario_table(SAMPLER, 60, seed=8, opponents=weights)
    assert [row["opponent"] for row in other] != [row["opponent"] for row in again]
    one = build_scenario_table(SAMPLER, 60, seed=7, opponents={"boulware": 0.5})
    assert {row["opponent"] for row in one} == {"boulware"}


@pytest.mark.parametrize("weights", [{}, {"linear": 1.0, "conceder": 0.0}, {"linear": -1.0}])
def test_the_table_refuses_a_mix_without_positive_weights(weights):
    with pytest.raises(ValueError, match="positive weight"):
        build_scenario_table(SAMPLER, 4, seed=0, opponents=weights)


def test_a_row_naming_an_opponent_the_environment_lacks_is_refused():
    env = make_env("linear")
    with pytest.raises(ValueError, match="opponent 'conceder' is not one of this environment's \\(linear\\)"):
        env.reset(**row_for("buyer", "conceder"))
