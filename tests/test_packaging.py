"""The distribution installs one import namespace, `haggle.*`, whatever folder the code lives in."""

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CARD_FOLDERS = {
    "haggle.env": "env",
    "haggle.data": "data",
    "haggle.eval": "eval",
    "haggle.training": "training",
}


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_folder_is_listed_under_haggle():
    setuptools = pyproject()["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"haggle": "haggle", **CARD_FOLDERS}
    expected = set()
    for package, folder in {"haggle": "haggle", **CARD_FOLDERS}.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            expected.add(".".join([package, *relative.parts]))
    assert set(setuptools["packages"]) == expected


@pytest.mark.parametrize("name", ["env", "data", "eval", "training"])
def test_card_folders_are_not_top_level_packages_even_from_the_repository_root(name):
    result = subprocess.run(
        [sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr
    assert f"import haggle.{name}" in result.stderr


@pytest.mark.slow
def test_wheel_holds_only_the_haggle_namespace(tmp_path):
    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build", "*.egg-info")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("haggle-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"haggle", wheel.name.split("-py")[0] + ".dist-info"}
    assert "haggle/env/resources/catalogue.jsonl" in names and "haggle/training/grpo.py" in names
