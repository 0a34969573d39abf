"""Greedy decoding of a tokenized batch, for tests and benchmarks that compare two models on the same input."""

from __future__ import annotations

from typing import Any


def greedy_generate(
    model: Any, batch: dict[str, Any], new_tokens: int, pad_id: int, exact: bool = False
) -> Any:
    """`model.generate` without sampling (the generation config's temperature/top-p/top-k switched off, else they
    warn); `exact`: every row gets exactly `new_tokens` tokens, so timed sides do the same work."""
    import torch

    with torch.no_grad():
        return model.generate(
            **batch,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens if exact else None,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=pad_id,
        )
