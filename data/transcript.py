"""One side's chat as its model reads it: the system prompt, the opening, then its moves and the replies to them.

LLM agents build it turn by turn while they play; `data.traces` rebuilds it from a stored episode by replaying the
moves, so an SFT example is exactly the conversation an agent holds at evaluation time. Everything the agent reads
is rendered from its own `View` by `env.prompts`, so nothing here can hold the other side's private value.

Messages are kept in one neutral form (OpenAI chat format, tool-call arguments as dicts when they parse); each
backend adapts it to its wire (JSON-string arguments for endpoints, dicts for chat templates).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from haggle.env.actions import ToolCall
from haggle.env.negotiation import Negotiation
from haggle.env.prompts import ignored_calls_note, opening, system_prompt, tool_reply
from haggle.env.views import View

if TYPE_CHECKING:
    from haggle.env.agents.base import Agent
    from haggle.env.scenario import Role, Scenario

Message = dict[str, Any]


@dataclass
class Transcript:
    system_prompt_suffix: str | None = None  # the agent's own instructions, appended to the system prompt
    messages: list[Message] = field(default_factory=list)
    since: int = 0  # len(view.history) when this side last acted: the reply covers what happened since
    open_call: tuple[str, str] | None = None  # (id, name) of the last tool call, which the next reply answers
    ignored_calls: int = (
        0  # tool calls after the first in the last reply: the next reply says they were ignored
    )

    def observe(self, view: View) -> None:
        """Add what the agent reads before acting: the prompt and opening, or the reply to its last move."""
        if not self.messages:
            self.messages += [
                {"role": "system", "content": system_prompt(view, self.system_prompt_suffix)},
                {"role": "user", "content": opening(view)},
            ]
        else:
            reply = "\n".join(
                filter(None, (ignored_calls_note(self.ignored_calls), tool_reply(view, self.since)))
            )
            if self.open_call:
                call_id, name = self.open_call
                self.messages.append(
                    {"role": "tool", "tool_call_id": call_id, "name": name, "content": reply}
                )
            else:  # the last reply held no tool call: there is nothing to answer, so the user speaks
                self.messages.append({"role": "user", "content": reply})
        self.since = len(view.history)
        self.open_call, self.ignored_calls = None, 0

    def add_move(
        self, content: str, call: ToolCall | None, reasoning: str | None = None, ignored_calls: int = 0
    ) -> None:
        """Add the agent's reply: its visible words and the tool call the engine executed, if any."""
        self.ignored_calls = ignored_calls
        message: Message = {"role": "assistant", "content": content}
        if reasoning:
            message["reasoning_content"] = reasoning
        if call is not None:
            call_id = f"call_{sum(m['role'] == 'assistant' for m in self.messages)}"
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            ]
            self.open_call = (call_id, call.name)
        self.messages.append(message)


def scripted_transcripts(
    scenario: Scenario, agents: Mapping[Role, Agent], content: str = ""
) -> dict[Role, list[Message]]:
    """Both sides' chats of one game between agents that decide at once (scripted strategies), each reply holding
    `content` as its words: realistic conversations without a model, for the tiny model's corpus, GRPO's token
    budget and test fixtures."""
    negotiation = Negotiation(scenario)
    transcripts = {role: Transcript() for role in agents}
    while not negotiation.done:
        actor = negotiation.turn
        view = negotiation.view(actor)
        move = agents[actor].decide(view)
        if not isinstance(move, ToolCall):
            raise TypeError(
                f"{agents[actor].name} made an unparseable move; a scripted transcript needs tool calls"
            )
        transcripts[actor].observe(view)
        transcripts[actor].add_move(content, move)
        negotiation.step(actor, move)
    return {role: transcript.messages for role, transcript in transcripts.items()}
