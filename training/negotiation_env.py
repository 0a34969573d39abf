"""The negotiation as a TRL `environment_factory` environment: one instance per rollout, the moves as tool methods.

GRPOTrainer creates instances with no arguments, calls `reset(**row)` with the dataset row before each rollout
(all `num_generations` rollouts of a group get the same row) and exposes every public method except `reset` as a
tool. `reset` rebuilds the scenario from the row's seed, tier and domain, builds the opponent the row names (one of
the run's weighted mix, drawn in `training/scenario_table.py`) from the row's opponent seed and plays the
opponent's opening move when it moves first; so every rollout of a group negotiates the same deal against the same
opponent. A tool call applies the model's move, lets the opponent answer inside the same call, and returns what an
evaluated agent reads next (rendered as `data.transcript` renders it).

The tool methods are generated from `env.actions.ACTION_SPECS` (name, docstring, argument types), so the schema
the model sees in training is the one eval agents get. Their real signature is `**arguments`: whatever arguments
the model writes reach the engine, which turns a malformed call into a counted violation with a readable error,
as in evaluation.

One move policy. `install_move_parser` makes TRL read every reply with `data.tool_parsing.parse_reply`, the
parser of evaluated agents: each reply becomes exactly one tool call that carries the parsed move (first call
executed, the others ignored and the model told so; malformed or unknown calls and replies without a call are one
counted violation each, not the end of the episode; over-long replies are cut and invalid). Once the game is over
(the last tool reply ends with `env.prompts.GAME_OVER`) a reply is read as no call, so the rollout ends there, as
an evaluated agent is not asked again.

Opponents. Scripted opponents answer synchronously. Agents with their own `act` (LLM endpoints) run on one
background event loop, so their HTTP clients always see the same loop, at most `max_concurrent` requests at once.
TRL calls the tools of its rollouts one after another, so awaiting each answer costs rollouts x turns x latency
per step. With `deferred=True` a tool applies the model's move, starts the opponent's answer and returns a
placeholder at once; the trainer calls `resolve_pending_replies` on the messages before it tokenizes them, by
which time every rollout's opponent has been answering concurrently: about one latency per turn. A failing
opponent voids its rollout (`opponent_failure`; rewards return None, which TRL masks), never the run.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import re
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import Future
from functools import cache, partial
from typing import Any, TypeVar

from haggle.data.tool_parsing import MAX_REPLY_CHARS, parse_reply
from haggle.env.actions import ACTION_SPECS, DEFAULT_ACTIONS, ActionSpec, Move, ToolCall, Unparseable
from haggle.env.agents.base import Agent, AgentTurn
from haggle.env.config_loading import ConfigError
from haggle.env.negotiation import Negotiation, ProtocolRules, StepResult
from haggle.env.prompts import GAME_OVER, ignored_calls_note, opening, system_prompt, tool_reply
from haggle.env.scenario import Role, Scenario, ScenarioSampler, other_role

OpponentFactory = Callable[[Role, int], Agent]  # (the opponent's role, its seed) -> a fresh agent
T = TypeVar("T")

_JSON_TYPES: dict[str, type] = {"number": float, "string": str, "integer": int, "boolean": bool}
MOVE_ARGUMENT = "_haggle_move"  # the parsed move, carried through TRL's tool call by `install_move_parser`
OPPONENT_DOWN = (
    f"The other side cannot be reached: this negotiation is void and will not be scored. {GAME_OVER}"
)


class OpponentError(RuntimeError):
    """The opponent failed to move (an endpoint down): the episode says nothing about the policy."""


def is_scripted(agent: Agent) -> bool:
    """Scripted agents decide synchronously; anything that overrides `act` may await an endpoint."""
    return type(agent).act is Agent.act


class NegotiationEnv:
    """One rollout's negotiation. Public attributes are read by rewards and metrics; public methods are tools."""

    def __init__(
        self,
        sampler: ScenarioSampler,
        opponents: Mapping[str, OpponentFactory],
        rules: ProtocolRules,
        limit: asyncio.Semaphore | None = None,
        deferred: bool = False,
    ) -> None:
        self._sampler = sampler
        self._opponents = opponents
        self._rules = rules
        self._limit = limit or asyncio.Semaphore(
            1
        )  # opponent requests in flight, shared by a factory's rollouts
        self._deferred = deferred
        self.negotiation: Negotiation | None = None
        self.role: Role = "buyer"
        self.opponent: Agent | None = None
        self.opponent_name = ""  # the row's opponent, a key of `opponents`
        self.opponent_seed = 0
        self.tool_calls = 0  # the model's tool calls, valid or not
        self.calls_after_end = 0  # tool calls made after the game was over
        self.ignored_calls = 0  # tool calls after the first in one reply, not executed
        self._note = ""  # told with the next reply: the calls of the last reply that were ignored
        self.opponent_failure: BaseException | None = None

    @property
    def scenario(self) -> Scenario:
        assert self.negotiation is not None, "reset() first"
        return self.negotiation.scenario

    def reset(
        self,
        *,
        scenario_seed: int,
        tier: str,
        domain: str,
        role: Role,
        opponent: str,
        opponent_seed: int,
        prompt: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> str:
        """Rebuild the row's scenario and opponent; return the opening message (appended to the prompt)."""
        if opponent not in self._opponents:
            raise ValueError(
                f"the row's opponent {opponent!r} is not one of this environment's ({', '.join(self._opponents)}); "
                "build the scenario table and the environment from the same `opponents`"
            )
        scenario = self._sampler.draw(scenario_seed, tier=tier, domain=domain)
        self.negotiation = Negotiation(scenario, self._rules)
        self.role, self.opponent_name, self.opponent_seed = role, opponent, opponent_seed
        if self.opponent is not None and not is_scripted(self.opponent):
            _on_opponent_loop(self.opponent.aclose()).result()  # the last rollout's endpoint client
        self.opponent = self._opponents[opponent](other_role(role), opponent_seed)
        self.tool_calls = self.calls_after_end = self.ignored_calls = 0
        self.opponent_failure = None
        view = self.negotiation.view(role)
        if prompt and prompt[0]["role"] == "system" and prompt[0]["content"] != system_prompt(view):
            raise ValueError(
                f"row {scenario.scenario_id}: its system prompt was rendered from another scenario; build the "
                "scenario table and the environment from the same `scenarios` settings"
            )
        if is_scripted(self.opponent):
            self._answer_scripted()
            return opening(self.negotiation.view(role))
        return self._deliver(_on_opponent_loop(self._answered(self._opening)))

    # -- moves -----------------------------------------------------------------------------------------------
    def _model_move(self, name: str, arguments: dict[str, Any]) -> tuple[StepResult, int]:
        assert self.negotiation is not None, "reset() first"
        move, ignored = _unpack_move(name, arguments)
        self.tool_calls += 1
        self.calls_after_end += int(self.negotiation.done)
        self.ignored_calls += ignored
        self._note = ignored_calls_note(ignored)
        since = len(self.negotiation.public_history)
        return self.negotiation.step(self.role, move), since

    def _opening(self) -> str:
        assert self.negotiation is not None
        return opening(self.negotiation.view(self.role))

    def _reply(self, since: int) -> str:
        """What the model reads next, rendered as `data.transcript` renders it for eval agents."""
        assert self.negotiation is not None
        if self.opponent_failure is not None:
            return OPPONENT_DOWN
        return "\n".join(filter(None, (self._note, tool_reply(self.negotiation.view(self.role), since))))

    async def _answered(self, render: Callable[[], str], answer: bool = True) -> str:
        """The opponent's answer (on the opponent loop), then what the model reads."""
        if answer:
            await self._answer_async()
        return OPPONENT_DOWN if self.opponent_failure is not None else render()

    def _deliver(self, reply: Future[str]) -> str:
        """Deferred: a placeholder that `resolve_pending_replies` fills in; else wait for the reply now."""
        return _pending_placeholder(reply) if self._deferred else reply.result()

    def _opponent_to_move(self) -> bool:
        negotiation = self.negotiation
        return negotiation is not None and not negotiation.done and negotiation.turn != self.role

    def _answer_scripted(self) -> None:
        assert self.negotiation is not None and self.opponent is not None
        while self._opponent_to_move():
            view = self.negotiation.view(self.opponent.role)
            self.negotiation.step(self.opponent.role, self.opponent.decide(view))

    async def _answer_async(self) -> None:
        """Runs on the opponent loop. Invalid opponent moves are the engine's business (it retries or forfeits)."""
        assert self.negotiation is not None and self.opponent is not None
        while self._opponent_to_move() and self.opponent_failure is None:
            try:
                async with self._limit:
                    turn: AgentTurn = await self.opponent.act(self.negotiation.view(self.opponent.role))
            except Exception as error:  # recorded: the rewards void this rollout instead of scoring it
                self.opponent_failure = error
                return
            self.negotiation.step(self.opponent.role, turn.move)

    def _play(self, name: str, arguments: dict[str, Any]) -> str:
        result, since = self._model_move(name, arguments)
        if self.opponent is not None and not is_scripted(self.opponent):
            return self._deliver(self._start_answer(result, since))
        if result.ok:
            self._answer_scripted()
        return self._reply(since)

    async def _play_async(self, name: str, arguments: dict[str, Any]) -> str:
        result, since = self._model_move(name, arguments)
        return await asyncio.wrap_future(self._start_answer(result, since))

    def _start_answer(self, result: StepResult, since: int) -> Future[str]:
        return _on_opponent_loop(self._answered(partial(self._reply, since), answer=result.ok))


# -- tool methods from ACTION_SPECS ---------------------------------------------------------------------------
def _tool_docstring(spec: ActionSpec) -> str:
    """Google style, which `transformers.utils.get_json_schema` reads back into the tool's JSON schema."""
    lines = [f"    {name}: {prop['description']}" for name, prop in spec.properties.items()]
    return spec.description + ("\n\nArgs:\n" + "\n".join(lines) if lines else "")


def _unpack_move(name: str, arguments: dict[str, Any]) -> tuple[Move, int]:
    """The move and the number of ignored calls `install_move_parser` packed in; a plain TRL call as it came."""
    packed = arguments.pop(MOVE_ARGUMENT, None)
    if not isinstance(packed, dict):
        return ToolCall(name, arguments), 0
    if "error" in packed:
        return Unparseable(packed["error"]), packed.get("ignored", 0)
    return ToolCall(packed["name"], packed["arguments"]), packed.get("ignored", 0)


def move_message(
    text: str, actions: Sequence[str] = DEFAULT_ACTIONS, max_chars: int = MAX_REPLY_CHARS
) -> dict[str, Any]:
    """A generated reply as the assistant message TRL acts on: one tool call, named after the move's tool (the
    first tool when the move is not a valid one) and carrying the move `parse_reply` read, as eval reads it."""
    reply = parse_reply(text, allowed=actions, max_chars=max_chars)
    move = reply.move
    packed: dict[str, Any] = {"ignored": reply.ignored_calls}
    if isinstance(move, ToolCall):
        packed |= {"name": move.name, "arguments": move.arguments}
    else:
        packed["error"] = move.error
    name = move.name if isinstance(move, ToolCall) and move.name in actions else actions[0]
    call = {"type": "function", "function": {"name": name, "arguments": {MOVE_ARGUMENT: packed}}}
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "tool_calls": [call]}
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    return message


def install_move_parser(tokenizer: Any, actions: Sequence[str], max_chars: int = MAX_REPLY_CHARS) -> None:
    """Make TRL (`trl.chat_template_utils.parse_response`) read generated replies as eval agents read them.

    TRL only consults `tokenizer.parse_response` when the tokenizer has a response schema or template, so
    this needs one (TRL's `add_response_schema` sets it for the templates it knows). With a response template
    TRL also passes the ids before the reply (`prefix`), whose last turn tells whether the game is over."""

    def parse_response(
        ids: Sequence[int], prefix: Sequence[int] | None = None, tools: object = None
    ) -> dict[str, Any]:
        message = move_message(tokenizer.decode(ids, skip_special_tokens=True), actions, max_chars)
        if prefix is not None and GAME_OVER in last_turn_text(tokenizer, prefix):
            del message["tool_calls"]  # nothing left to play: the rollout ends
        return message

    tokenizer.parse_response = parse_response


def last_turn_text(tokenizer: Any, ids: Sequence[int]) -> str:
    """The text of the last complete turn of a rendered chat (between its last two end-of-turn tokens, where
    TRL's tool suffix puts the tool reply), or "" when there is none."""
    ends = [i for i, token in enumerate(ids) if token == tokenizer.eos_token_id]
    return tokenizer.decode(ids[ends[-2] + 1 : ends[-1]]) if len(ends) >= 2 else ""


def _tool_method(spec: ActionSpec, asynchronous: bool) -> Callable[..., Any]:
    name = spec.name

    async def async_tool(self: NegotiationEnv, **arguments: Any) -> str:
        return await self._play_async(name, arguments)

    def sync_tool(self: NegotiationEnv, **arguments: Any) -> str:
        return self._play(name, arguments)

    tool: Callable[..., Any] = async_tool if asynchronous else sync_tool
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    for argument, prop in spec.properties.items():
        annotations[argument] = _JSON_TYPES[prop["type"]]
        default = inspect.Parameter.empty if argument in spec.required else None
        parameters.append(
            inspect.Parameter(
                argument, inspect.Parameter.KEYWORD_ONLY, annotation=annotations[argument], default=default
            )
        )
    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = _tool_docstring(spec)
    tool.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    tool.__annotations__ = annotations  # no return annotation: it would leak into the schema
    return tool


@cache
def environment_class(
    actions: tuple[str, ...] = DEFAULT_ACTIONS, asynchronous: bool = False
) -> type[NegotiationEnv]:
    """`NegotiationEnv` with one tool method per allowed action (async ones for endpoint opponents)."""
    tools = {name: _tool_method(ACTION_SPECS[name], asynchronous) for name in actions}
    return type("NegotiationEnv", (NegotiationEnv,), {**tools, "__doc__": NegotiationEnv.__doc__})


def opponent_from_spec(spec: Mapping[str, Any]) -> OpponentFactory:
    """An agent spec as configs write them (`data.agent_specs`): `{name: linear}`, or an LLM with kind and params.
    Built once now, so that a bad spec stops the run at start-up (one config error), not mid-training."""
    from haggle.data.agent_specs import AgentSpec, build_agent

    try:
        agent_spec = AgentSpec.from_mapping(dict(spec))
        build_agent(agent_spec, "seller", 0)
    except ValueError as error:
        raise ConfigError(f"opponent {spec.get('name')!r}: {error}") from None
    return partial(build_agent, agent_spec)


def environment_factory(
    sampler: ScenarioSampler,
    opponents: Mapping[str, OpponentFactory],
    rules: ProtocolRules | None = None,
    *,
    max_concurrent: int = 64,
    deferred: bool = False,
) -> Callable[[], NegotiationEnv]:
    """The no-argument callable GRPOTrainer wants; `opponents` by the names the scenario table's rows give. Probes
    every opponent to pick sync or async tools: with any endpoint opponent the tools are async, or sync ones
    returning placeholders when `deferred` (see the module docstring); scripted opponents answer at once in
    either."""
    if not opponents:
        raise ValueError("give the environment at least one opponent")
    rules = rules or ProtocolRules()
    endpoint = any(not is_scripted(opponent("seller", 0)) for opponent in opponents.values())
    env_class = environment_class(rules.actions, asynchronous=endpoint and not deferred)
    limit = asyncio.Semaphore(max_concurrent)  # binds to the opponent loop on first use

    def make() -> NegotiationEnv:
        return env_class(sampler, opponents, rules, limit, deferred)

    return make


# -- deferred replies -----------------------------------------------------------------------------------------
_PLACEHOLDER = re.compile("\x00haggle-reply-(\\d+)\x00")
_pending: dict[str, Future[str]] = {}
_tickets = itertools.count()


def _pending_placeholder(reply: Future[str]) -> str:
    ticket = str(next(_tickets))
    _pending[ticket] = reply
    return f"\x00haggle-reply-{ticket}\x00"


def resolve_pending_replies(messages: Iterable[dict[str, Any]]) -> None:
    """Fill in, in place, the replies deferred tools and resets stood in for (waiting for those not yet done).
    The trainer calls it on prompts and tool messages before tokenizing them."""
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) and "\x00haggle-reply-" in content:
            message["content"] = _PLACEHOLDER.sub(
                lambda match: _pending.pop(match.group(1)).result(), content
            )


# -- the opponent loop ----------------------------------------------------------------------------------------
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _on_opponent_loop(coroutine: Coroutine[Any, Any, T]) -> Future[T]:
    """Schedule on the process's one opponent event loop (a daemon thread, started on first use)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="haggle-opponents", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(coroutine, _loop)
