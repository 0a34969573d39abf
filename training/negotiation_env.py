"""The negotiation as a TRL `environment_factory` environment: one instance per rollout, the moves as tool methods.

GRPOTrainer creates instances with no arguments, calls `reset(**row)` with the dataset row before each rollout
(all `num_generations` rollouts of a group get the same row) and exposes every public method except `reset` as a
tool. `reset` rebuilds the scenario from the row's seed, tier and domain, builds the fixed opponent from the row's
opponent seed and plays the opponent's opening move when it moves first; so every rollout of a group negotiates
the same deal against the same opponent. A tool call applies the model's move, lets the opponent answer inside
the same call, and returns what an evaluated agent reads next (rendered as `data.transcript` renders it).

The tool methods are generated from `env.actions.ACTION_SPECS` (name, docstring, argument types), so the schema
the model sees in training is the one eval agents get. Their real signature is `**arguments`: whatever arguments
the model writes reach the engine, which turns a malformed call into a counted violation with a readable error,
as in evaluation. Scripted opponents answer synchronously; agents with their own `act` (LLM endpoints) make the
tools `async` and run on one background event loop, so their HTTP clients always see the same loop.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from functools import cache, partial
from typing import Any

from haggle.env.actions import ACTION_SPECS, DEFAULT_ACTIONS, ActionSpec, ToolCall
from haggle.env.agents.base import Agent, AgentTurn
from haggle.env.negotiation import Negotiation, ProtocolRules, StepResult
from haggle.env.prompts import opening, system_prompt, tool_reply
from haggle.env.scenario import Role, Scenario, ScenarioSampler, other_role

OpponentFactory = Callable[[Role, int], Agent]  # (the opponent's role, its seed) -> a fresh agent

_JSON_TYPES: dict[str, type] = {"number": float, "string": str, "integer": int, "boolean": bool}


class OpponentError(RuntimeError):
    """The opponent failed to move (an endpoint down): the episode says nothing about the policy."""


def is_scripted(agent: Agent) -> bool:
    """Scripted agents decide synchronously; anything that overrides `act` may await an endpoint."""
    return type(agent).act is Agent.act


class NegotiationEnv:
    """One rollout's negotiation. Public attributes are read by rewards and metrics; public methods are tools."""

    def __init__(self, sampler: ScenarioSampler, opponent: OpponentFactory, rules: ProtocolRules) -> None:
        self._sampler = sampler
        self._make_opponent = opponent
        self._rules = rules
        self.negotiation: Negotiation | None = None
        self.role: Role = "buyer"
        self.opponent: Agent | None = None
        self.opponent_seed = 0
        self.tool_calls = 0  # the model's tool calls, valid or not
        self.calls_after_end = 0  # tool calls made after the game was over
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
        opponent_seed: int,
        prompt: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> str:
        """Rebuild the row's scenario and opponent; return the opening message (appended to the prompt)."""
        scenario = self._sampler.draw(scenario_seed, tier=tier, domain=domain)
        self.negotiation = Negotiation(scenario, self._rules)
        self.role, self.opponent_seed = role, opponent_seed
        if self.opponent is not None and not is_scripted(self.opponent):
            _on_opponent_loop(self.opponent.aclose()).result()  # the last rollout's endpoint client
        self.opponent = self._make_opponent(other_role(role), opponent_seed)
        self.tool_calls = self.calls_after_end = 0
        self.opponent_failure = None
        view = self.negotiation.view(role)
        if prompt and prompt[0]["role"] == "system" and prompt[0]["content"] != system_prompt(view):
            raise ValueError(
                f"row {scenario.scenario_id}: its system prompt was rendered from another scenario; build the "
                "scenario table and the environment from the same `scenarios` settings"
            )
        if is_scripted(self.opponent):
            self._answer_scripted()
        else:
            _on_opponent_loop(self._answer_async()).result()
        return opening(self.negotiation.view(role))

    # -- moves -----------------------------------------------------------------------------------------------
    def _model_move(self, name: str, arguments: dict[str, Any]) -> tuple[StepResult, int]:
        assert self.negotiation is not None, "reset() first"
        self.tool_calls += 1
        self.calls_after_end += int(self.negotiation.done)
        since = len(self.negotiation.public_history)
        return self.negotiation.step(self.role, ToolCall(name, arguments)), since

    def _reply(self, since: int) -> str:
        """What the model reads next, rendered as `data.transcript` renders it for eval agents."""
        assert self.negotiation is not None
        return tool_reply(self.negotiation.view(self.role), since)

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
        while self._opponent_to_move():
            try:
                turn: AgentTurn = await self.opponent.act(self.negotiation.view(self.opponent.role))
            except Exception as error:  # recorded, and raised by the reward so the step is not scored
                self.opponent_failure = error
                return
            self.negotiation.step(self.opponent.role, turn.move)

    def _play(self, name: str, arguments: dict[str, Any]) -> str:
        result, since = self._model_move(name, arguments)
        if result.ok:
            self._answer_scripted()
        return self._reply(since)

    async def _play_async(self, name: str, arguments: dict[str, Any]) -> str:
        result, since = self._model_move(name, arguments)
        if result.ok:
            await asyncio.wrap_future(_on_opponent_loop(self._answer_async()))
        return self._reply(since)


# -- tool methods from ACTION_SPECS ---------------------------------------------------------------------------
def _tool_docstring(spec: ActionSpec) -> str:
    """Google style, which `transformers.utils.get_json_schema` reads back into the tool's JSON schema."""
    lines = [f"    {name}: {prop['description']}" for name, prop in spec.properties.items()]
    return spec.description + ("\n\nArgs:\n" + "\n".join(lines) if lines else "")


def _tool_method(spec: ActionSpec, asynchronous: bool) -> Callable[..., Any]:
    name = spec.name
    if asynchronous:

        async def tool(self: NegotiationEnv, **arguments: Any) -> str:
            return await self._play_async(name, arguments)
    else:

        def tool(self: NegotiationEnv, **arguments: Any) -> str:
            return self._play(name, arguments)

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


def opponent_from_spec(spec: dict[str, Any]) -> OpponentFactory:
    """An agent spec as configs write them (`data.agent_specs`): `{name: linear}`, or an LLM with kind and params."""
    from haggle.data.agent_specs import AgentSpec, build_agent

    agent_spec = AgentSpec.from_mapping(spec)
    build_agent(agent_spec, "seller", 0)  # fail at startup, not mid-training, on a bad spec
    return partial(build_agent, agent_spec)


def environment_factory(
    sampler: ScenarioSampler, opponent: OpponentFactory, rules: ProtocolRules | None = None
) -> Callable[[], NegotiationEnv]:
    """The no-argument callable GRPOTrainer wants. Probes one opponent to pick sync or async tools."""
    rules = rules or ProtocolRules()
    env_class = environment_class(rules.actions, asynchronous=not is_scripted(opponent("seller", 0)))

    def make() -> NegotiationEnv:
        return env_class(sampler, opponent, rules)

    return make


# -- the opponent loop ----------------------------------------------------------------------------------------
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _on_opponent_loop(coroutine: Coroutine[Any, Any, None]) -> Future[None]:
    """Schedule on the process's one opponent event loop (a daemon thread, started on first use)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="haggle-opponents", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(coroutine, _loop)
