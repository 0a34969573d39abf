"""Experiment presets from the LLM-bargaining literature: one YAML file and one command each.

`config` parses a preset (configs/experiments/), `run` plays it into an episode store (every model in self-play per
condition, every mechanism on the same scenarios), `disclosure` holds the one-shot disclosure phase and its
scripted strategies, `mechanisms` the one-shot baselines, `tables` the statistics, `haggle.eval.references` the theory set
beside them, and `report` with `plots` the markdown, JSON and PNGs (`haggle experiment run|report`).
"""
