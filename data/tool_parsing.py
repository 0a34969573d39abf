"""Reading a model's reply: its reasoning, its visible words and the one tool call it makes.

Endpoints return tool calls natively; local models (and endpoints without a tool parser) write them in text:
Qwen3/Hermes `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, JSON in a code fence, or a bare JSON
object. Think blocks (any spelling, see `reasoning_text`) are reasoning: kept in the stored trace, stripped from
anything the other side reads.
A reply with no readable tool call becomes `Unparseable`, which the engine counts as a violation and reports
back to the model on its next turn.

This is the one move policy of Haggle: evaluated agents (`data.llm_agent`) and GRPO rollouts
(`training.negotiation_env`) both read replies here. The first tool call is the move; further calls in the same
reply are ignored and counted (`ParsedReply.ignored_calls`, which the model is told about). A reply longer than
`max_chars` is cut there (what is stored, replayed and exported stays bounded) and is itself the violation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from haggle.data.reasoning_text import split_reasoning, strip_reasoning
from haggle.env.actions import DEFAULT_ACTIONS, Move, ToolCall, Unparseable

_TOOL_CALL_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S)
_CODE_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.S)
_SPOKEN_ARGUMENTS = ("message", "text")  # the arguments the other side reads
MAX_REPLY_CHARS = 8_000  # a negotiation move with its words and reasoning fits many times over


@dataclass(frozen=True)
class ParsedReply:
    move: Move
    content: str  # what the model wrote outside its reasoning and its tool-call markup
    reasoning: str | None
    ignored_calls: int = 0  # tool calls after the first one, which are not executed


def _call_from_json(payload: Any) -> ToolCall | None:
    """`{"name", "arguments"}` (or `parameters`), optionally wrapped as `{"type": "function", "function": ...}`."""
    if isinstance(payload, dict) and isinstance(payload.get("function"), dict):
        payload = payload["function"]
    if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
        return None
    arguments = payload.get("arguments", payload.get("parameters", {}))
    return ToolCall(payload["name"], arguments if arguments is not None else {})


def _json_objects(text: str) -> list[tuple[int, int, Any]]:
    """Every top-level JSON value that starts with `{` in `text`, with its span."""
    decoder, found, index = json.JSONDecoder(), [], text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        found.append((index, end, value))
        index = text.find("{", end)
    return found


def _text_tool_call(text: str) -> tuple[Move | None, str, int]:
    """The first tool call written in text, the text with every tool-call span removed, and the number of
    `<tool_call>` blocks after the first."""
    blocks = list(_TOOL_CALL_BLOCK.finditer(text))
    if blocks:
        body = blocks[0].group(1).strip()
        try:
            call = _call_from_json(json.loads(body))
            move: Move = call or Unparseable('a <tool_call> block needs {"name": ..., "arguments": {...}}')
        except json.JSONDecodeError as error:
            move = Unparseable(f"the <tool_call> block is not valid JSON ({error.msg})")
        return move, _TOOL_CALL_BLOCK.sub("", text), len(blocks) - 1
    for fence in _CODE_FENCE.finditer(text):
        for _, _, value in _json_objects(fence.group(1)):
            if call := _call_from_json(value):
                return call, text[: fence.start()] + text[fence.end() :], 0
    for start, end, value in _json_objects(text):
        if call := _call_from_json(value):
            return call, text[:start] + text[end:], 0
    return None, text, 0


def _normalise(call: ToolCall) -> ToolCall:
    """Decode JSON-string arguments when they are valid (the engine reports them when not) and strip reasoning
    from what the other side will read."""
    arguments = call.arguments
    if isinstance(arguments, str):
        try:
            decoded = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return call
        if not isinstance(decoded, dict):
            return call
        arguments = decoded
    if not isinstance(arguments, dict):
        return call
    cleaned = {
        key: strip_reasoning(value) if key in _SPOKEN_ARGUMENTS and isinstance(value, str) else value
        for key, value in arguments.items()
    }
    return ToolCall(call.name, cleaned)


def visible_content(text: str | None) -> str:
    """The words a reply holds outside reasoning and tool-call markup (what the model's chat history keeps)."""
    _, rest = split_reasoning(text or "")
    return _text_tool_call(rest)[1].strip()


def parse_reply(
    text: str | None,
    native_calls: Sequence[ToolCall] = (),
    reasoning: str | None = None,
    allowed: Sequence[str] = DEFAULT_ACTIONS,
    max_chars: int = MAX_REPLY_CHARS,
) -> ParsedReply:
    """One move from a reply: the first native tool call, else the first tool call written in the text."""
    text, cut = cap_reply(text, max_chars)
    reasoning, _ = cap_reply(reasoning, max_chars)
    inline_reasoning, rest = split_reasoning(text or "")
    move, leftover, ignored = _text_tool_call(rest)
    if native_calls:
        move, ignored = native_calls[0], len(native_calls) - 1
        cut = cut or len(json.dumps(move.arguments, default=str)) > max_chars
    if cut:
        move = Unparseable(
            f"your reply was longer than {max_chars} characters and was cut: keep replies short"
        )
    elif move is None:
        what = "an empty reply" if not leftover.strip() else "no tool call in the reply"
        move = Unparseable(f"{what}: act by calling exactly one tool ({', '.join(allowed)})")
    if isinstance(move, ToolCall):
        move = _normalise(move)
    thoughts = "\n\n".join(part for part in (reasoning, inline_reasoning) if part)
    return ParsedReply(move, leftover.strip(), thoughts or None, ignored)


def cap_reply(text: str | None, max_chars: int = MAX_REPLY_CHARS) -> tuple[str | None, bool]:
    """`text` cut to `max_chars`, and whether it was cut."""
    if text is None or len(text) <= max_chars:
        return text, False
    return text[:max_chars], True
