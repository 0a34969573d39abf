"""A tiny Qwen3 built locally (random weights, no download): Haggle's CPU default and the tests' model.

Everything a caller touches is Qwen3's, so the code path for it is the one for Qwen/Qwen3-8B:
- the tokenizer is Qwen3's pipeline (NFC, Qwen2's split regex with one digit a token, byte-level BPE) with
  a vocabulary of about two thousand tokens trained on negotiation text, then Qwen3's 26 added tokens in
  Qwen3's order and flags (`<|im_end|>` eos, `<|endoftext|>` pad, `<tool_call>`/`<think>` not special);
- the chat template is Qwen3's, read at build time from TRL (`trl/chat_templates/qwen3.jinja`). TRL knows it
  by identity, so SFT with `assistant_only_loss` and GRPO's tool loop swap in `qwen3_training.jinja`
  (generation markers, prefix-preserving) and parse tool calls exactly as they do for Qwen3-8B;
- the files are laid out as on the hub (config.json, generation_config.json, model.safetensors,
  tokenizer.json, tokenizer_config.json): `AutoModelForCausalLM` / `AutoTokenizer.from_pretrained(dir)`.

    haggle tiny-model --out runs/tiny-model
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

from haggle.data.transcript import Message, scripted_transcripts
from haggle.env.actions import tool_schemas
from haggle.env.agents.base import create_agent
from haggle.env.domains import builtin_domains
from haggle.env.scenario import ROLES, SamplerConfig, ScenarioSampler

STAMP_NAME = "haggle_tiny_model.json"
STAMP_SCHEMA = "haggle.tiny_model/2"  # bump when the recipe changes: older builds are rebuilt, not reused

# Qwen3's added tokens (tokenizer_config.json of Qwen/Qwen3-8B), in id order: (content, special).
QWEN3_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
)
PAD_TOKEN, EOS_TOKEN = "<|endoftext|>", "<|im_end|>"
VOCAB_SIZE = 2048  # learned BPE tokens plus the added ones (fewer if the corpus ran out of merges)
CORPUS_SEED = 20250501  # fixed: every seed gets the same tokenizer, only the weights differ

# The shape of a Qwen3 block at toy sizes; the rest of the config is Qwen3-8B's.
MODEL_SIZES: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 384,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "max_position_embeddings": 40960,
    "max_window_layers": 4,
    "initializer_range": 0.1,  # not Qwen3's 0.02: the size and scale benchmarks/learning_check.py was tuned on
    "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0},
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}


def qwen3_chat_template() -> str:
    """Qwen3's chat template as TRL ships it, the one TRL recognises and swaps for its training variant.
    `trl.chat_template_utils.qwen3_chat_template` reads this file too; reading it here skips importing TRL."""
    return files("trl").joinpath("chat_templates", "qwen3.jinja").read_text(encoding="utf-8")


# ---- the corpus the tokenizer learns from


def _price(rng: random.Random) -> str:
    """A price in one of the many ways people write them, from cents to millions."""
    amount = round(10 ** rng.uniform(-1, 7), rng.choice([0, 0, 1, 2]))
    style = rng.randrange(8)
    if style == 0:
        return f"{amount:g}"
    if style == 1:
        return f"{amount:.2f}"
    if style == 2:
        return f"${amount:,.2f}"
    if style == 3:
        return f"${amount:,.0f}"
    if style == 4:
        return f"{rng.choice(['€', '£', '¥', 'CHF '])}{amount:,.0f}"
    if style == 5:
        return f"{amount:,.2f} {rng.choice(['USD', 'EUR', 'GBP', 'dollars', 'euros'])}"
    if style == 6:
        return f"{amount / 1000:.1f}k" if amount >= 1000 else f"{amount:.0f} bucks"
    return f"{amount / 1e6:.2f} million" if amount >= 1e6 else str(int(amount))


def _comma_separated(words: str) -> list[str]:
    return words.split(", ")


_OPENERS = [
    "",
    "Hi! ",
    "Hello. ",
    "Thanks for the offer. ",
    "Look, ",
    "Honestly, ",
    "Okay. ",
    "Fair enough. ",
]
_ITEMS = _comma_separated(
    "bike, laptop, sofa, guitar, camera, phone, tablet, monitor, desk, chair, bookshelf, mattress, fridge, "
    "washer, dryer, stroller, kayak, tent, drone, watch, ring, necklace, painting, rug, lamp, piano, violin, "
    "amplifier, speaker, headphones, console, printer, scooter, motorcycle, truck, sedan, van, trailer, "
    "boat, tractor, generator, lawnmower, chainsaw, drill, toolbox, microwave, blender, espresso machine, "
    "dining table, crib, wardrobe, treadmill, rowing machine, saddle, telescope, record player, "
    "vinyl collection, comic books, website redesign, logo design, translation job, consulting hours, "
    "software licence, conference room, hotel block, room nights, catering contract, office lease, "
    "parking space, storage unit, moving service, wedding venue, photography package, cleaning contract, "
    "plumbing repair, roof repair, tutoring sessions, snowboard, skis, surfboard, sewing machine, "
    "vacuum cleaner, air conditioner, heater, chandelier, mirror, bathtub, fireplace screen, greenhouse, "
    "hammock, barbecue grill, pizza oven, aquarium, birdcage, typewriter, harp, saxophone, trumpet, "
    "microscope, projector, router, server rack, forklift, excavator, sailboat"
)
_TERMS = _comma_separated(
    "free delivery, pickup this weekend, cash on the spot, a bank transfer today, a two-year warranty, "
    "payment upfront, net thirty terms, a written receipt, the original box, the charger included, "
    "a spare battery, a full service history, new tyres, no questions asked, a refund within a week, "
    "installation included, a signed contract, a deposit of ten percent, monthly instalments, "
    "a late checkout, breakfast included, a cancellation window, an invoice with tax, express shipping, "
    "a second fitting, three revisions, weekly progress reports, a fixed deadline, weekend availability"
)
_STATES = _comma_separated(
    "brand new, like new, barely used, refurbished, vintage, antique, mint condition, well maintained, "
    "slightly scratched, dented, faded, cracked, unopened, lightly worn, heavily used, "
    "professionally serviced, recently upgraded, handmade, imported, discontinued, rare, collectible, "
    "oversized, compact, lightweight, waterproof, wireless, certified, second-hand, custom-built, "
    "freshly painted, rust-free, fuel-efficient"
)
_PHRASES = [
    "The {item} is {state}, so {p} is a bargain.",
    "It's {state}; I won't pay more than {p}.",
    "I can do {p} for the {item} if you pick it up today.",
    "My best offer for the {item} is {p}.",
    "That's too high for me. How about {p}?",
    "I'd accept {p}, but not a cent less.",
    "Would you meet me halfway at {p}?",
    "{p} is my final price, with {term}.",
    "I have another buyer for the {item} at {p}.",
    "The market rate for a {item} is around {p}; {q} is more than fair.",
    "I can't go below {p}, the {item} cost me {q}.",
    "Deal at {p}. Let's close it.",
    "Your offer of {p} is an insult. I'll walk away.",
    "Let's split the difference: {p}.",
    "I'll come down to {p} if you pay with {term}.",
    "Can you include {term} for {p}?",
    "No deal at {p}. My budget for the {item} is {q}.",
    "I accept your offer of {p}.",
    "I reject {p}; I need at least {q}.",
    "We're close. {p} and the {item} is yours.",
    "Similar {item}s sold for {p} last month, and they didn't come with {term}.",
    "Is the {item} still available? Would you take {p}?",
    "If you add {term}, I can stretch to {p}.",
    "I'm not in a hurry; {p} or I keep looking.",
]
_THOUGHTS = [
    "My private value is {p}, so any price below it leaves me surplus.",
    "The other side opened at {p}. I should counter near {q} and concede slowly.",
    "There are few rounds left; a deal at {p} beats no deal.",
    "If I accept {p} my surplus is small but positive.",
    "They conceded from {p} to {q}, so their reservation price is probably lower.",
    "Offering {p} anchors the negotiation; I can still come down to {q}.",
    "The {item} is {state}, which justifies about {p}.",
    "A {item} like this one usually goes for {p}; asking for {term} may be worth more than a discount.",
    "Walking away gives zero, so I should not hold out past {p}.",
]
_ABROAD = [
    "Je peux vous le laisser à {p}, c'est mon dernier prix.",
    "Das ist mein letztes Angebot: {p}. Einverstanden?",
    "¿Aceptaría {p}? Es un precio justo.",
    "这个价格太高了，{p}可以吗？",
    "この値段で売ります：{p}。いかがですか？",
    "Posso fare {p}, non di più. Affare fatto? 🤝",
]


def _sentence(rng: random.Random, templates: list[str]) -> str:
    words = {
        "p": _price(rng),
        "q": _price(rng),
        "item": rng.choice(_ITEMS),
        "term": rng.choice(_TERMS),
        "state": rng.choice(_STATES),
    }
    return rng.choice(_OPENERS) + rng.choice(templates).format(**words)


def _tool_call(rng: random.Random) -> str:
    """A tool call as Qwen3 writes it inside <tool_call>, with the arguments each action takes."""
    schema = rng.choice(tool_schemas())["function"]
    arguments: dict[str, Any] = {}
    for name, spec in schema["parameters"]["properties"].items():
        if name in schema["parameters"].get("required", ()) or rng.random() < 0.5:
            number = round(10 ** rng.uniform(-1, 7), rng.choice([0, 1, 2]))
            arguments[name] = number if spec["type"] == "number" else _sentence(rng, _PHRASES)
    return json.dumps({"name": schema["name"], "arguments": arguments}, ensure_ascii=False)


def _scripted_conversations(count: int) -> Iterator[list[Message]]:
    """Both sides' chats of scripted negotiations across every domain and price tier, as agents read them."""
    config = SamplerConfig(
        domains=sorted(builtin_domains()),
        tiers=[10, 100, 1_000, 10_000, 100_000, 1_000_000],
        first_mover="random",
        no_zone_share=0.2,
    )
    strategies = ["boulware", "conceder", "linear", "tit_for_tat", "hardliner", "random", "posted_price"]
    for index, scenario in enumerate(ScenarioSampler(config).sample(count, seed=CORPUS_SEED)):
        names = {"buyer": strategies[index % 7], "seller": strategies[index // 7 % 7]}
        agents = {role: create_agent(names[role], role=role, seed=scenario.seed) for role in ROLES}
        yield from scripted_transcripts(scenario, agents).values()


def _with_words(conversation: list[Message], rng: random.Random) -> list[Message]:
    """The conversation with reasoning and words in some assistant turns, as a talking model writes them."""
    for message in conversation:
        if message["role"] == "assistant" and rng.random() < 0.5:
            message["reasoning_content"] = _sentence(rng, _THOUGHTS)
            message["content"] = _sentence(rng, _PHRASES)
    return conversation


def negotiation_corpus() -> list[str]:
    """Deterministic training text: chat-template renderings of scripted negotiations (the real prompts and
    tool schemas), tool calls, negotiation phrases, reasoning, and prices in many magnitudes and formats."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rng = random.Random(CORPUS_SEED)
    template, tools = qwen3_chat_template(), tool_schemas()
    texts: list[str] = []
    for index, conversation in enumerate(_scripted_conversations(70)):
        texts += render_jinja_template(  # (renderings, generation indices), though annotated `-> str`
            [_with_words(conversation, rng) if index % 2 else conversation],
            tools=list[dict | Callable](tools),
            chat_template=template,
            enable_thinking=bool(index % 3),
        )[0]
    texts += [_tool_call(rng) for _ in range(3000)]
    texts += [_sentence(rng, _PHRASES) for _ in range(6000)]
    texts += [_sentence(rng, _THOUGHTS) for _ in range(2000)]
    texts += [_sentence(rng, _ABROAD) for _ in range(600)]
    texts += [" ".join(_price(rng) for _ in range(8)) for _ in range(600)]
    return texts


# ---- the tokenizer


def train_tokenizer(texts: list[str]) -> Any:
    """A `tokenizers.Tokenizer` with Qwen3's pipeline, BPE learned from `texts`, then Qwen3's added tokens."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.trainers import BpeTrainer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tokenizer = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = BpeTrainer(
        vocab_size=VOCAB_SIZE - len(QWEN3_ADDED_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Learn merges from the text between added tokens only: the tokenizer never sees those as text.
    added = re.compile("|".join(re.escape(content) for content, _ in QWEN3_ADDED_TOKENS))
    tokenizer.train_from_iterator((piece for text in texts for piece in added.split(text)), trainer)
    tokenizer.add_tokens(
        [AddedToken(content, special=special, normalized=False) for content, special in QWEN3_ADDED_TOKENS]
    )
    return tokenizer


def tokenizer_config(tokenizer: Any, chat_template: str) -> dict[str, Any]:
    """tokenizer_config.json as Qwen/Qwen3-8B has it, for this vocabulary."""
    added = {
        str(tokenizer.token_to_id(content)): {
            "content": content,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": special,
        }
        for content, special in QWEN3_ADDED_TOKENS
    }
    return {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": [c for c, special in QWEN3_ADDED_TOKENS if special and c != PAD_TOKEN],
        "bos_token": None,
        "chat_template": chat_template,
        "clean_up_tokenization_spaces": False,
        "eos_token": EOS_TOKEN,
        "errors": "replace",
        "model_max_length": 131072,
        "pad_token": PAD_TOKEN,
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


# ---- the model


def write_model(out_dir: Path, tokenizer: Any, seed: int) -> int:
    """Seeded random float32 Qwen3 weights, config and generation config (Qwen3's sampling defaults) in
    `out_dir`; returns the number of parameters."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    pad_id, eos_id = tokenizer.token_to_id(PAD_TOKEN), tokenizer.token_to_id(EOS_TOKEN)
    config = Qwen3Config(
        vocab_size=tokenizer.get_vocab_size(with_added_tokens=True),
        bos_token_id=pad_id,
        eos_token_id=eos_id,
        dtype="float32",
        **MODEL_SIZES,
    )
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's random state
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(config).float()
    model.generation_config = GenerationConfig(
        bos_token_id=pad_id,
        eos_token_id=[eos_id, pad_id],
        pad_token_id=pad_id,
        do_sample=True,
        temperature=0.6,
        top_k=20,
        top_p=0.95,
    )
    model.save_pretrained(out_dir)
    return model.num_parameters()


# ---- the build: idempotent and atomic


def _template_digest(chat_template: str) -> str:
    return hashlib.sha256(chat_template.encode()).hexdigest()


def read_stamp(out_dir: Path) -> dict[str, Any] | None:
    """What `build_tiny_model` recorded in `out_dir`, or None if it holds no build of this recipe."""
    try:
        stamp = json.loads((Path(out_dir) / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) and stamp.get("schema") == STAMP_SCHEMA else None


def is_complete_build(out_dir: Path, seed: int) -> bool:
    """A finished build with this seed and the chat template TRL ships now (after a TRL upgrade that changes
    it, TRL would no longer recognise the old one)."""
    stamp = read_stamp(out_dir)
    return (
        stamp is not None
        and stamp.get("seed") == seed
        and stamp.get("chat_template_sha256") == _template_digest(qwen3_chat_template())
    )


def _write_build(out_dir: Path, seed: int) -> None:
    template = qwen3_chat_template()
    tokenizer = train_tokenizer(negotiation_corpus())
    tokenizer.save(str(out_dir / "tokenizer.json"))
    config = tokenizer_config(tokenizer, template)
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    parameters = write_model(out_dir, tokenizer, seed)
    stamp = {
        "schema": STAMP_SCHEMA,
        "seed": seed,
        "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
        "parameters": parameters,
        "chat_template": "trl/chat_templates/qwen3.jinja",
        "chat_template_sha256": _template_digest(template),
    }
    (out_dir / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n")  # last: it marks the build complete


def build_tiny_model(out_dir: Path, *, seed: int = 0, force: bool = False) -> Path:
    """Build the tiny model into `out_dir` and return it. A complete build with this seed is reused (unless
    `force`), an older one rebuilt; the build is written next to `out_dir` and renamed into place, so a killed
    build leaves nothing half-written. A directory holding anything else is replaced only with `force`."""
    out_dir = Path(out_dir)
    if not force and is_complete_build(out_dir, seed):
        return out_dir
    ours = (out_dir / STAMP_NAME).is_file()  # a build of any recipe version
    if not force and out_dir.is_dir() and any(out_dir.iterdir()) and not ours:
        raise FileExistsError(
            f"{out_dir} holds something other than a tiny-model build; use --force to replace it"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the model is for every user of the machine
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    try:
        _write_build(staging, seed)
        if out_dir.exists():
            out_dir.rename(old)
        try:
            staging.rename(out_dir)
        except OSError:
            if not is_complete_build(
                out_dir, seed
            ):  # unless a concurrent build of the same model won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return out_dir
