"""The distribution installs one import namespace, `haggle.*`, whatever folder the code lives in."""

import shutil
import subprocess
import sys
import sysconfig
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
DATA_FOLDERS = {"haggle.configs": "configs"}  # YAML only, no modules


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_folder_is_listed_under_haggle():
    setuptools = pyproject()["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"haggle": "haggle", **CARD_FOLDERS, **DATA_FOLDERS}
    expected = set()
    for package, folder in {"haggle": "haggle", **CARD_FOLDERS}.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            expected.add(".".join([package, *relative.parts]))
    assert set(setuptools["packages"]) == expected | set(DATA_FOLDERS)
    assert setuptools["package-data"]["haggle.configs"] == ["*/*.yaml"]


@pytest.mark.parametrize("name", ["env", "data", "eval", "training"])
def test_card_folders_are_not_top_level_packages_even_from_the_repository_root(name):
    result = subprocess.run(
        [sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr
    assert f"import haggle.{name}" in result.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel `pip wheel .` builds from a copy of the checkout (so the build leaves nothing in it)."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"
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
            str(folder),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    shutil.rmtree(source)
    (built,) = folder.glob("haggle-*.whl")
    return built


@pytest.mark.slow
def test_wheel_holds_only_the_haggle_namespace(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"haggle", wheel.name.split("-py")[0] + ".dist-info"}
    assert "haggle/env/resources/catalogue.jsonl" in names and "haggle/training/grpo.py" in names
    assert (
        "haggle/configs/pipeline/tiny-cpu.yaml" in names and "haggle/configs/scenarios/default.yaml" in names
    )


@pytest.mark.slow
def test_a_non_editable_install_lists_and_resolves_the_built_in_configs_from_any_directory(wheel, tmp_path):
    """The wheel installed into a fresh venv (dependencies from this one), run from an empty directory:
    `haggle configs` lists the configs that ship in the package and `--config` finds them by name."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    (site,) = venv.glob("lib/python3*/site-packages")
    (site / "haggle-deps.pth").write_text(sysconfig.get_paths()["purelib"])  # no .pth of it runs: no editable
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    empty = tmp_path / "empty"
    empty.mkdir()

    def haggle(*args):
        command = [str(venv / "bin" / "haggle"), *args]
        return subprocess.run(command, cwd=empty, capture_output=True, text=True, timeout=120)

    listing = haggle("configs")
    assert listing.returncode == 0, listing.stderr
    assert str(site / "haggle" / "configs") in listing.stdout
    assert "pipeline/" in listing.stdout and "tiny-cpu" in listing.stdout
    theory = haggle("theory", "--config", "configs/scenarios/default.yaml", "--episodes", "20", "--json")
    assert theory.returncode == 0, theory.stderr
    assert haggle("theory", "--config", "marketplace", "--episodes", "20").returncode == 0
    copied = haggle("configs", "copy", "pipeline/tiny-cpu", "mine.yaml")
    assert copied.returncode == 0 and (empty / "mine.yaml").read_text().startswith("# The README")
