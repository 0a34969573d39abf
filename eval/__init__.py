"""Evaluation: the eval CLI's building blocks, economic-theory reference points and the statistics behind them."""

if (
    __name__ != "haggle.eval"
):  # the folder is installed as haggle.eval only: one name, one copy of each module
    raise ModuleNotFoundError(f"{__name__!r} is not a package here: import haggle.eval", name=__name__)
