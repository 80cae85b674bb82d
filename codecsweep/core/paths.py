"""Where the workflow's own files are, for everything that runs a copy of it elsewhere (the
tests' temporary projects, the scale check)."""

from __future__ import annotations

import pathlib
import shutil

#: The repository (the folder holding the Snakefile), for an editable install or a checkout.
REPO = pathlib.Path(__file__).resolve().parents[2]

#: What a workflow needs besides its config and data: a copy of these runs like the repository.
WORKFLOW_FILES = (
    "Snakefile",
    "rules",
    "workflow_scripts",
    "envs",
    "report",
    "config/schema.yaml",
    "config/grids",
    "reports/sql",
    "profiles/default",
    "profiles/slurm",
)


def copy_workflow(dest: pathlib.Path) -> None:
    """Copy the workflow files into ``dest`` (which then takes a config and data)."""
    for rel in WORKFLOW_FILES:
        src, dst = REPO / rel, dest / rel
        if not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
