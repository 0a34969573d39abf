"""Where an LLM agent's completions come from: an OpenAI-compatible endpoint, transformers or vLLM offline."""
