"""Fixtures shared by every test package."""

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The tiny Qwen3 of `haggle tiny-model` (random weights, seed 0), built once per test session."""
    from haggle.training.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), seed=0)


@pytest.fixture
def refused(capsys):
    """Run `haggle ARGV`, which must refuse as every command does: exit 2, one line on stderr (no traceback)
    matching `match`. Returns what the command printed on stdout before it stopped."""
    import re

    from haggle.cli import main

    def run(argv: list[str], match: str) -> str:
        capsys.readouterr()
        code = main(argv)
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert code == 2, f"exit {code}, stderr {err!r}"
        assert err and "Traceback" not in err, err
        assert re.search(match, err.splitlines()[-1]), err
        return captured.out

    return run
