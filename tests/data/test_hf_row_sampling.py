"""A local model samples each request from its own seed: the same seeds give the same replies whichever requests
share a batch (before, one generator per batch made a rerun of the same eval differ with the timing)."""

from collections import Counter

import torch
from haggle.data.backends.batching import ChatRequest
from haggle.data.backends.hf_local import HFConfig, HFLocalModel
from haggle.data.backends.row_sampling import SeededRowSampler
from haggle.env.actions import tool_schemas

CHATS = [
    [{"role": "system", "content": f"You are selling item {i}."}, {"role": "user", "content": "Your move."}]
    for i in range(6)
]


def backend(model_dir, **sampling):
    params = {"model": str(model_dir), "device": "cpu", "max_new_tokens": 12, "sampling": sampling}
    return HFLocalModel(HFConfig.from_params(params))


def texts(model, requests):
    return [completion.text for completion in model.generate_batch(requests)]


def test_a_request_gets_the_same_sample_alone_or_in_any_batch(tiny_model_dir):
    model = backend(tiny_model_dir, temperature=1.0)
    requests = [ChatRequest(chat, tool_schemas(), seed=100 + i) for i, chat in enumerate(CHATS)]
    together = texts(model, requests)
    alone = [texts(model, [request])[0] for request in requests]
    reversed_batch = texts(model, requests[::-1])[::-1]
    assert together == alone == reversed_batch
    other_seeds = texts(model, [ChatRequest(r.messages, r.tools, seed=r.seed + 1) for r in requests])
    assert other_seeds != together  # it is sampling, seeded per request


def test_temperature_zero_is_greedy_and_equal_to_top_k_one(tiny_model_dir):
    requests = [ChatRequest(chat, tool_schemas(), seed=i) for i, chat in enumerate(CHATS[:3])]
    greedy = texts(backend(tiny_model_dir, temperature=0), requests)
    top_one = texts(backend(tiny_model_dir, temperature=1.0, top_k=1), requests)
    assert greedy == top_one


def test_the_row_sampler_draws_from_the_warped_softmax():
    """Gumbel-max: the argmax of logits plus the sampler's noise is a draw from softmax(logits / temperature)."""
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2, 1e-9]]))
    draws = Counter()
    for seed in range(4000):
        sampler = SeededRowSampler([seed], {"temperature": 1.0})
        draws[int(sampler(torch.zeros(1, 1, dtype=torch.long), logits.clone()).argmax())] += 1
    shares = [draws[i] / 4000 for i in range(4)]
    assert abs(shares[0] - 0.5) < 0.03 and abs(shares[1] - 0.3) < 0.03 and abs(shares[2] - 0.2) < 0.03
    assert shares[3] == 0.0
    cut = SeededRowSampler([0], {"top_k": 2})(torch.zeros(1, 1, dtype=torch.long), logits.clone())
    assert torch.isinf(cut[0, 2:]).all()  # top_k removes the rest before the noise
