"""Text an agent reads: the system prompt for its side, the opening message and each tool reply.

Built only from a `View`, so nothing rendered here can hold the other side's private value. LLM agents, the GRPO
environment and the SFT traces all render through these functions, so a model trains on exactly what it sees
at evaluation time.
"""

from __future__ import annotations

from haggle.env.actions import ACCEPT_OFFER, DISCLOSE_VALUE, MAKE_OFFER, REJECT_OFFER, SEND_MESSAGE, WALK_AWAY
from haggle.env.views import PublicEvent, View

PROMPT_VERSION = "2"  # 2: tool replies open with the engine's reply to the move


def system_prompt(view: View, suffix: str | None = None) -> str:
    """The rules, the item and this side's own private value; `suffix` (an agent's `system_prompt_suffix`:
    framing or disclosure instructions) is appended as the last paragraph."""
    domain, fmt = view.domain, view.domain.format_price
    me, them = domain.label(view.role), domain.label(view.other_role)
    if view.role == "buyer":
        value_line = (
            f"Your private value for it is {fmt(view.private_value)}: paying less earns you the "
            "difference, paying more loses you money."
        )
    else:
        value_line = (
            f"Your private cost for it is {fmt(view.private_value)}: selling for more earns you the "
            "difference, selling for less loses you money."
        )
    lines = [
        f"You are the {me} in a negotiation. {domain.setting}",
        f"The item: {view.item.title}. {view.item.description}".strip(),
        value_line,
        f"Only you know this number. The {them} has a private number of its own that you do not know. It is "
        f"common knowledge that both numbers lie between {fmt(view.value_low)} and {fmt(view.value_high)}.",
        f"All prices are totals in {domain.currency}.",
        f"Rules: you take turns; each of you has at most {view.max_rounds} turns. Act only by calling exactly one "
        "tool per turn. Offers are binding: if the other side accepts your offer, the deal closes at that price. "
        "Messages never bind. If the turns run out, there is no deal and neither side gains anything.",
        "Your goal: capture as much surplus as you can, but a deal at a good price beats no deal, and no deal "
        "beats a loss.",
    ]
    if view.discount < 1:
        lines.append(
            f"Delay is costly: each round, what either side gains from a deal shrinks by the factor "
            f"{view.discount:g}."
        )
    if view.context:
        facts = "; ".join(f"{key.replace('_', ' ')}: {value}" for key, value in view.context.items())
        lines.append(f"Deal facts: {facts}.")
    if suffix:
        lines.append(suffix)
    return "\n".join(lines)


def describe_event(event: PublicEvent, view: View) -> str:
    """One public event from `view.role`'s point of view."""
    fmt = view.domain.format_price
    who = "You" if event.actor == view.role else f"The {view.domain.label(event.actor)}"
    said = f' and said: "{event.message}"' if event.message else ""
    if event.action == MAKE_OFFER:
        return f"{who} offered {fmt(event.price or 0)}{said}."
    if event.action == ACCEPT_OFFER:
        return f"{who} accepted the offer of {fmt(event.price or 0)}. The deal is closed."
    if event.action == REJECT_OFFER:
        return f"{who} rejected the standing offer{said}."
    if event.action == SEND_MESSAGE:
        return f'{who} said: "{event.message}"'
    if event.action == DISCLOSE_VALUE:
        return f"{who} stated a reservation value of {fmt(event.price or 0)}{said}."
    if event.action == WALK_AWAY:
        return f"{who} walked away. The negotiation is over without a deal."
    return f"{who}: {event.action}."


GAME_OVER = "The negotiation is over."  # ends every reply once the game is over (GRPO stops a rollout on it)


def situation(view: View) -> str:
    fmt = view.domain.format_price
    if view.done:
        return GAME_OVER
    parts = [f"Round {view.round} of {view.max_rounds}; you have {view.turns_left} turn(s) left."]
    if view.standing_offer is not None:
        parts.append(
            f"The {view.domain.label(view.other_role)}'s offer of {fmt(view.standing_offer.price)} "
            "is on the table: you may accept it."
        )
    else:
        parts.append(f"No offer from the {view.domain.label(view.other_role)} is on the table.")
    if view.my_offer is not None:
        parts.append(f"Your latest offer: {fmt(view.my_offer.price)}.")
    if view.is_my_turn:
        parts.append("It is your turn: call one tool.")
    return " ".join(parts)


def opening(view: View) -> str:
    """The first user message: what happened before this side's first turn."""
    if not view.history:
        return f"The negotiation starts and you move first. {situation(view)}"
    return tool_reply(view, since=0)


def tool_reply(view: View, since: int) -> str:
    """What an agent reads after its move: the engine's reply to that move (`view.last_feedback`: deal closed,
    offer recorded, or the error to fix), the other side's moves since `since` (the history length when this side
    last acted), and the state of play. The one rendering of a tool result: LLM agents, SFT traces and the GRPO
    environment all call it, so a model trains on exactly the replies it gets at evaluation time."""
    events = [describe_event(event, view) for event in view.history[since:] if event.actor != view.role]
    return "\n".join(part for part in (view.last_feedback, *events, situation(view)) if part)


def ignored_calls_note(ignored: int) -> str:
    """Told to a model that put several tool calls in one reply: only the first is a move, in eval and training."""
    if not ignored:
        return ""
    calls = "call was" if ignored == 1 else "calls were"
    return f"Only your first tool call was executed; the other {ignored} {calls} ignored. Make one call per turn."
