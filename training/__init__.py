"""Training stages on TRL (SFT, GRPO), their configs and rewards, and the tiny local Qwen3 used on CPU."""
