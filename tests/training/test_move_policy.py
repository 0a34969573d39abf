"""One move policy (issue 11): the same generated replies give the same moves, violations and replies in a GRPO
rollout (TRL's parser hook `install_move_parser`, then the environment's tool methods as TRL calls them) and in
an evaluated LLM agent (`data.llm_agent`): several calls in one reply, malformed JSON arguments, an unknown tool,
no call at all, an oversized reply."""

import asyncio
import json

from haggle.data.backends.base import Completion
from haggle.data.backends.reliability import ReliableBackend, RetryPolicy
from haggle.data.llm_agent import LLMAgent
from haggle.data.tool_parsing import MAX_REPLY_CHARS
from haggle.env.negotiation import Negotiation, ProtocolRules
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.training.negotiation_env import environment_factory, install_move_parser, opponent_from_spec
from haggle.training.scenario_table import build_scenario_table
from transformers import AutoTokenizer
from trl.chat_template_utils import add_response_schema, parse_response

SAMPLER = ScenarioSampler(SamplerConfig(max_rounds=10))
RULES = ProtocolRules(max_violations=8)  # room for every kind of bad reply before a forfeit
OPPONENT = {"name": "boulware"}  # holds out, so the game outlasts the replies


def call(name, arguments):
    """A tool call as Qwen3 writes it in text; `arguments` a dict, or raw text for a broken one."""
    written = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return f'<tool_call>\n{{"name": "{name}", "arguments": {written}}}\n</tool_call>'


def replies(low):
    return [
        "Let me open low. " + call("make_offer", {"price": low}) + call("walk_away", {}),  # two calls
        call("make_offer", '{"price": 12'),  # malformed JSON arguments
        call("fly_away", {}),  # an unknown tool
        "I would rather just talk for a while.",  # no call at all
        "x" * (MAX_REPLY_CHARS + 10) + call("accept_offer", {}),  # oversized: cut, and invalid
        call("make_offer", {"price": low + 1, "message": "My last word."}),
    ]


class ScriptedText:
    """A local model's backend: the generated text as it came, tool calls written in it."""

    def __init__(self, texts):
        self.texts = list(texts)

    async def complete(self, messages, tools, seed):
        return Completion(text=self.texts.pop(0))

    async def aclose(self):
        pass


def eval_side(row, texts):
    """The evaluated agent plays the texts against the row's opponent: (public moves, violations, what it read)."""
    scenario = SAMPLER.draw(row["scenario_seed"], tier=row["tier"], domain=row["domain"])
    negotiation = Negotiation(scenario, RULES)
    agent = LLMAgent(
        row["role"], 0, name="m", backend=ReliableBackend("m", ScriptedText(texts), RetryPolicy())
    )
    opponent = opponent_from_spec(OPPONENT)("seller", row["opponent_seed"])
    moves = 0
    while not negotiation.done and not (negotiation.turn == row["role"] and moves == len(texts)):
        actor = negotiation.turn
        view = negotiation.view(actor)
        if actor == row["role"]:
            move = asyncio.run(agent.act(view)).move
            moves += 1
        else:
            move = opponent.decide(view)
        negotiation.step(actor, move)
    agent.transcript.observe(negotiation.view(row["role"]))  # the reply to the last move
    reads = [m["content"] for m in agent.transcript.messages if m["role"] in ("user", "tool")]
    return negotiation.public_history, dict(negotiation.violations), reads


def grpo_side(row, texts, tokenizer):
    """TRL's way: each generated reply parsed by `parse_response`, every parsed call run on the environment."""
    env = environment_factory(SAMPLER, {OPPONENT["name"]: opponent_from_spec(OPPONENT)}, RULES)()
    reads = [env.reset(**row)]
    for text in texts:
        message = parse_response(tokenizer, tokenizer(text)["input_ids"])
        assert len(message["tool_calls"]) == 1  # one move per reply, whatever the reply held
        for tool_call in message["tool_calls"]:
            function = tool_call["function"]
            reads.append(getattr(env, function["name"])(**function["arguments"]))
    return env.negotiation.public_history, dict(env.negotiation.violations), reads


def test_the_same_replies_make_the_same_moves_and_violations_in_grpo_and_in_eval(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    add_response_schema(tokenizer)
    install_move_parser(tokenizer, RULES.actions)
    rows = build_scenario_table(SAMPLER, 4, seed=1, opponents={OPPONENT["name"]: 1.0})
    row = next(row for row in rows if row["role"] == "buyer")
    low = int(SAMPLER.draw(row["scenario_seed"], tier=row["tier"], domain=row["domain"]).value_low)
    texts = replies(low)

    eval_moves, eval_violations, eval_reads = eval_side(row, texts)
    grpo_moves, grpo_violations, grpo_reads = grpo_side(row, texts, tokenizer)

    assert grpo_moves == eval_moves and grpo_violations == eval_violations
    # malformed, unknown, no call, oversized; the ignored second call is not one
    assert eval_violations["buyer"] == 4
    assert grpo_reads == eval_reads
    assert "Only your first tool call was executed" in grpo_reads[1]
    buyer_offers = [event for event in grpo_moves if event.actor == "buyer" and event.price is not None]
    assert [event.price for event in buyer_offers] == [low, low + 1]  # the first call of the two ran


def test_once_the_game_is_over_a_reply_ends_the_rollout_as_eval_stops_asking(tiny_model_dir):
    """TRL keeps a rollout going while its last reply holds a call; the move parser turns even a reply without
    one into a (counted) call, except after the tool reply that says the game is over."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    add_response_schema(tokenizer)
    install_move_parser(tokenizer, RULES.actions)
    env = environment_factory(SAMPLER, {OPPONENT["name"]: opponent_from_spec(OPPONENT)}, RULES)()
    rows = build_scenario_table(SAMPLER, 4, seed=1, opponents={OPPONENT["name"]: 1.0})
    row = next(row for row in rows if row["role"] == "buyer")
    chat = [*row["prompt"][:1], {"role": "user", "content": env.reset(**row)}]
    reply = tokenizer("Thank you, goodbye.")["input_ids"]

    def parsed_after(tool_reply):
        calls = [{"type": "function", "function": {"name": "walk_away", "arguments": {}}}]
        messages = [*chat, {"role": "assistant", "content": "", "tool_calls": calls}]
        messages.append({"role": "tool", "name": "walk_away", "content": tool_reply})
        prefix = tokenizer.apply_chat_template(messages, add_generation_prompt=True, enable_thinking=False)
        return parse_response(tokenizer, reply, prefix=list(prefix["input_ids"]), tools=None)

    first = parse_response(
        tokenizer, reply, prefix=tokenizer.apply_chat_template(chat, add_generation_prompt=True)["input_ids"]
    )
    assert len(first["tool_calls"]) == 1  # no call while playing: one counted violation, as in eval
    assert "tool_calls" not in parsed_after(env.walk_away())  # "... The negotiation is over."
    assert first["content"] == parsed_after(env.walk_away())["content"] == "Thank you, goodbye."
