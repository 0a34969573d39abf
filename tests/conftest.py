"""Fixtures shared by every test package."""

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The tiny Qwen3 of `haggle tiny-model` (random weights, seed 0), built once per test session."""
    from haggle.training.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), seed=0)
