"""Training stages on TRL (SFT, GRPO), their configs and rewards, and the tiny local Qwen3 used on CPU."""

if (
    __name__ != "haggle.training"
):  # the folder is installed as haggle.training only: one name, one copy of each module
    raise ModuleNotFoundError(f"{__name__!r} is not a package here: import haggle.training", name=__name__)
