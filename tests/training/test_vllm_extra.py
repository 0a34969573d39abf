"""The `vllm` extra pins what the installed TRL declares for its own vllm extra, so a TRL upgrade that moves the
range shows up here rather than as a broken GPU install on a cluster."""

import tomllib
from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def test_the_vllm_extra_matches_the_installed_trl():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    ours = {Requirement(line) for line in project["optional-dependencies"]["vllm"]}
    trl_declares = set()
    for line in requires("trl") or []:
        requirement = Requirement(line)
        if requirement.marker is not None and requirement.marker.evaluate({"extra": "vllm"}):
            requirement.marker = None
            trl_declares.add(requirement)
    assert trl_declares, "the installed TRL declares no vllm extra"
    assert {(r.name, r.specifier) for r in ours} == {(r.name, r.specifier) for r in trl_declares}
