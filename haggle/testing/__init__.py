"""Test doubles for Haggle's own tests and benchmarks, kept out of the product packages (like `numpy.testing`):
an OpenAI-compatible chat server that plays scripted strategies over HTTP with injected faults (`chat_server`),
the policy that replays each chat through the engine to answer it (`chat_policy`), an in-process vLLM stand-in
(`vllm_stand_in`) and greedy decoding for model-vs-model comparisons (`greedy`). Nothing in `haggle.env`,
`haggle.data`, `haggle.eval` or `haggle.training` imports it (tests/test_import_graph.py)."""
