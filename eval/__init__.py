"""Evaluation: the eval CLI's building blocks, economic-theory reference points and the statistics behind them."""
