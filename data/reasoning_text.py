"""A model's reasoning, told apart from the words the other side may read.

Models write their reasoning between think tags, and not always in one spelling: `<think>`, `<THINK>`,
`<thinking>`, `<think >`, `<think type="plan">`. Every spelling counts (case-insensitive, attributes and spaces
allowed), so that no variant leaks a private valuation into an offer's message. Chat templates that open the block
in the prompt leave a reply with a closing tag only, and a reply cut at its token limit leaves an opening tag only:
both are reasoning too.
"""

from __future__ import annotations

import re

_OPEN = r"<\s*think(?:ing)?(?:\s[^>]*)?>"
_CLOSE = r"<\s*/\s*think(?:ing)?\s*>"
_BLOCK = re.compile(f"{_OPEN}(.*?){_CLOSE}", re.S | re.I)
_OPEN_TAG = re.compile(_OPEN, re.I)
_CLOSE_TAG = re.compile(_CLOSE, re.I)


def split_reasoning(text: str) -> tuple[str | None, str]:
    """(reasoning, the rest). Handles a closing tag whose opening was in the prompt, and a truncated block."""
    parts = [match.strip() for match in _BLOCK.findall(text)]
    rest = _BLOCK.sub("", text)
    closings = list(_CLOSE_TAG.finditer(rest))
    if closings:  # the chat template opened the block in the prompt
        head, rest = rest[: closings[-1].start()], rest[closings[-1].end() :]
        parts.insert(0, _CLOSE_TAG.sub("", _OPEN_TAG.sub("", head)).strip())
    opening = _OPEN_TAG.search(rest)
    if opening:  # generation stopped inside a block
        rest, tail = rest[: opening.start()], rest[opening.end() :]
        parts.append(_OPEN_TAG.sub("", tail).strip())
    reasoning = "\n\n".join(part for part in parts if part)
    return reasoning or None, rest


def strip_reasoning(text: str) -> str:
    """What the other side may read of `text`."""
    return split_reasoning(text)[1].strip()
