"""An LLM negotiator: renders its side's view as a chat with the environment's tools, and reads one move back.

The agent keeps its own multi-turn history (`Transcript`), so the model sees its earlier calls and the replies to
them. Whatever the backend returns is parsed by `tool_parsing`: a reply with no usable tool call becomes a
protocol violation that the model reads on its next turn, never a crash. A request that fails after its retries
raises (`EndpointFailure` or `ModelStopped`), so the episode is retried or recorded as an error, never scored.
"""

from __future__ import annotations

from haggle.data.backends.reliability import ReliableBackend
from haggle.data.tool_parsing import MAX_REPLY_CHARS, cap_reply, parse_reply
from haggle.data.transcript import Transcript
from haggle.env.actions import ToolCall, tool_schemas
from haggle.env.agents.base import Agent, AgentTurn
from haggle.env.scenario import Role, derive_seed
from haggle.env.views import View


class LLMAgent(Agent):
    version = "llm-1"

    def __init__(
        self,
        role: Role,
        seed: int = 0,
        *,
        name: str,
        backend: ReliableBackend,
        system_prompt_suffix: str | None = None,
        max_reply_chars: int = MAX_REPLY_CHARS,
    ) -> None:
        super().__init__(role, seed)
        self.name = name
        self.backend = backend
        self.transcript = Transcript(system_prompt_suffix)  # framing / disclosure instructions, if any
        self.requests = 0
        self.max_reply_chars = (
            max_reply_chars  # longer replies are cut (stored, replayed, exported) and invalid
        )

    async def act(self, view: View) -> AgentTurn:
        self.transcript.observe(view)
        completion = await self.backend.complete(
            self.transcript.messages,
            tool_schemas(view.allowed_actions),
            seed=derive_seed(self.seed, self.requests) % 2**31,
        )
        self.requests += 1
        reply = parse_reply(
            completion.text,
            completion.tool_calls,
            completion.reasoning,
            view.allowed_actions,
            max_chars=self.max_reply_chars,
        )
        call = reply.move if isinstance(reply.move, ToolCall) else None
        self.transcript.add_move(reply.content, call, reply.reasoning, reply.ignored_calls)
        raw, _ = cap_reply(completion.text, self.max_reply_chars)
        return AgentTurn(reply.move, reply.reasoning, raw, completion.usage)
