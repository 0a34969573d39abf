"""`haggle configs`: the built-in configs, which every `--config` also takes by name, and a copy to edit.

    haggle configs                                          # every built-in config, by kind
    haggle configs copy pipeline/tiny-cpu my-pipeline.yaml  # a copy to edit; then --config my-pipeline.yaml
    haggle pipeline --config tiny-cpu --out runs/quickstart # a name: configs/pipeline/tiny-cpu.yaml

They ship inside the package (`haggle/configs/` in a wheel; the repository's `configs/` in a checkout), so the
README's commands work after `pip install .`, from any directory.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def builtin_root() -> Path:
    """Where the built-in configs are: installed as `haggle/configs/`, or `configs/` beside `haggle/` in a
    checkout (an editable install maps packages, not data folders)."""
    for root in (PACKAGE / "configs", PACKAGE.parent / "configs"):
        if root.is_dir():
            return root
    raise FileNotFoundError("the built-in configs are missing from this installation of haggle: reinstall it")


def builtin_configs() -> dict[str, list[str]]:
    """kind (a folder of configs/) -> the names of its YAML files."""
    root = builtin_root()
    return {
        folder.name: sorted(path.stem for path in folder.glob("*.yaml"))
        for folder in sorted(root.iterdir())
        if folder.is_dir() and any(folder.glob("*.yaml"))
    }


def resolve_config(given: str | Path, kind: str) -> Path:
    """A config argument as a file: an existing path wins; else a built-in one named `NAME`, `KIND/NAME` or
    `configs/KIND/NAME.yaml` (the README's spelling, which so works from any directory)."""
    path = Path(given)
    if path.is_file():
        return path
    root = builtin_root()
    relative = path.relative_to("configs") if path.parts[:1] == ("configs",) else path
    relative = relative.with_suffix(".yaml") if relative.suffix == "" else relative
    candidates = [root / relative] if len(relative.parts) > 1 else [root / kind / relative, root / relative]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    names = ", ".join(builtin_configs().get(kind, [])) or "none"
    raise FileNotFoundError(
        f"config file not found: {given} (built-in {kind} configs: {names}; `haggle configs`)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "configs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.set_defaults(func=list_command)
    actions = parser.add_subparsers(dest="configs_command", metavar="copy")
    copy = actions.add_parser("copy", help="copy a built-in config out, to edit and pass as --config FILE")
    copy.add_argument("name", help="KIND/NAME as `haggle configs` lists it (e.g. pipeline/tiny-cpu)")
    copy.add_argument("dest", type=Path, help="a file, or a directory to copy into")
    copy.add_argument("--force", action="store_true", help="overwrite DEST")
    copy.set_defaults(func=copy_command)


def list_command(args: argparse.Namespace) -> int:
    print(
        f"built-in configs ({builtin_root()}); pass one as --config NAME or copy it: haggle configs copy KIND/NAME"
    )
    for kind, names in builtin_configs().items():
        print(f"  {kind + '/':<13} {', '.join(names)}")
    return 0


def copy_command(args: argparse.Namespace) -> int:
    kind, _, name = args.name.rpartition("/")
    matches = [
        f"{each_kind}/{name.removesuffix('.yaml')}"
        for each_kind, names in builtin_configs().items()
        if each_kind == kind or not kind
        if name.removesuffix(".yaml") in names
    ]
    if len(matches) != 1:
        found = f"it names {', '.join(matches)}" if matches else "no built-in config has that name"
        raise SystemExit(f"haggle configs copy: give KIND/NAME as `haggle configs` lists it ({found})")
    source = builtin_root() / f"{matches[0]}.yaml"
    dest = args.dest / source.name if args.dest.is_dir() else args.dest
    if dest.exists() and not args.force:
        raise SystemExit(f"haggle configs copy: {dest} exists; pass --force to overwrite it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    print(f"copied {matches[0]} to {dest}; use it with --config {dest}")
    return 0
