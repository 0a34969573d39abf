"""Reading moves out of model replies: native calls, Qwen3 tags, code fences, bare JSON, reasoning."""

from haggle.data.tool_parsing import parse_reply, split_reasoning, visible_content
from haggle.env.actions import ToolCall, Unparseable


def test_qwen3_tool_call_tags_are_parsed_and_removed_from_the_content():
    text = 'Fair enough.\n<tool_call>\n{"name": "make_offer", "arguments": {"price": 120}}\n</tool_call>'
    reply = parse_reply(text)
    assert reply.move == ToolCall("make_offer", {"price": 120})
    assert reply.content == "Fair enough."


def test_json_in_a_code_fence_and_bare_json_are_tool_calls():
    fenced = 'I accept.\n```json\n{"name": "accept_offer", "arguments": {}}\n```'
    assert parse_reply(fenced).move == ToolCall("accept_offer", {})
    assert parse_reply(fenced).content == "I accept."
    bare = 'My move: {"type": "function", "function": {"name": "walk_away", "parameters": {}}} bye'
    assert parse_reply(bare).move == ToolCall("walk_away", {})
    assert parse_reply(bare).content == "My move:  bye"


def test_the_first_of_several_calls_is_the_move():
    text = '<tool_call>{"name": "make_offer", "arguments": {"price": 1}}</tool_call>' * 2
    assert parse_reply(text).move == ToolCall("make_offer", {"price": 1})


def test_native_calls_win_and_their_json_string_arguments_are_decoded():
    reply = parse_reply("", [ToolCall("make_offer", '{"price": 99.5}'), ToolCall("walk_away", "{}")])
    assert reply.move == ToolCall("make_offer", {"price": 99.5})


def test_broken_arguments_are_left_for_the_engine_to_report():
    assert parse_reply("", [ToolCall("make_offer", '{"price": ')]).move == ToolCall(
        "make_offer", '{"price": '
    )
    broken = parse_reply('<tool_call>{"name": "make_offer", "arguments": </tool_call>').move
    assert isinstance(broken, Unparseable) and "not valid JSON" in broken.error


def test_a_reply_without_a_call_is_unparseable_with_an_error_that_names_the_tools():
    for text in ("", "I think we should talk about the weather.", '{"price": 10}'):
        move = parse_reply(text, allowed=("make_offer", "walk_away")).move
        assert isinstance(move, Unparseable)
        assert "make_offer, walk_away" in move.error


def test_reasoning_is_kept_apart_and_stripped_from_what_the_other_side_reads():
    text = (
        "<think>My value is 80, so I can go to 75.</think>Let me offer."
        '<tool_call>{"name": "make_offer", "arguments": {"price": 60, "message": "<think>80!</think>Final."}}'
        "</tool_call>"
    )
    reply = parse_reply(text, reasoning="endpoint reasoning")
    assert reply.move == ToolCall("make_offer", {"price": 60, "message": "Final."})
    assert reply.reasoning == "endpoint reasoning\n\nMy value is 80, so I can go to 75.\n\n80!"
    assert reply.content == "Let me offer."
    assert "80" not in visible_content(text)


def test_reasoning_opened_by_the_template_or_cut_short_is_still_reasoning():
    assert split_reasoning("weighing options\n</think>\n\nanswer") == ("weighing options", "\n\nanswer")
    assert split_reasoning("answer <think>unfinished thought") == ("unfinished thought", "answer ")
    assert split_reasoning("no reasoning") == (None, "no reasoning")
