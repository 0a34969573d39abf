"""Sampling that does not depend on which requests share a batch.

A local model serves concurrent requests as one padded batch, and which requests meet in a batch depends on
timing. Seeding one generator per batch made the same seeds give different replies from run to run. Here each row
samples from its own generator, seeded by its request (the Gumbel-max trick: the argmax of the warped logits plus
Gumbel noise is a draw from their softmax), and generation itself runs greedy over those noisy logits. The same
request seeds give the same replies however the requests were batched, up to float rounding of the batch shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    MinPLogitsWarper,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

WARPERS = ("temperature", "top_k", "top_p", "min_p")  # in transformers' own order


def sampling_settings(model_defaults: Any, requested: Mapping[str, Any]) -> dict[str, Any]:
    """The warpers' settings: the request's, else the model's generation config (as `generate` would merge)."""
    settings = {name: getattr(model_defaults, name, None) for name in WARPERS}
    settings.update({name: value for name, value in requested.items() if name in WARPERS})
    return {name: value for name, value in settings.items() if value is not None}


class SeededRowSampler(LogitsProcessor):
    """Warp each row's logits as sampling would, then add Gumbel noise from that row's own generator."""

    def __init__(self, seeds: Sequence[int], settings: Mapping[str, Any]) -> None:
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        warpers: list[LogitsProcessor] = []
        if settings.get("temperature", 1.0) != 1.0:
            warpers.append(TemperatureLogitsWarper(settings["temperature"]))
        if settings.get("top_k"):
            warpers.append(TopKLogitsWarper(settings["top_k"]))
        if settings.get("top_p", 1.0) < 1.0:
            warpers.append(TopPLogitsWarper(settings["top_p"]))
        if settings.get("min_p"):
            warpers.append(MinPLogitsWarper(settings["min_p"]))
        self.warpers = LogitsProcessorList(warpers)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.Tensor:
        warped: torch.Tensor = self.warpers(input_ids, scores)
        exponential = torch.stack(
            [torch.empty(warped.shape[-1]).exponential_(generator=generator) for generator in self.generators]
        )
        return warped - exponential.log().to(warped.device, warped.dtype)  # + Gumbel(0, 1) noise
