"""`codecsweep list encoders` reads as a table: a learned codec without weights is one short
cell, the missing files and the fetch command come once below it, and no library's deprecation
notice is part of the output (issue 26, item 9)."""

from __future__ import annotations

import re

from codecsweep.codecs import ENCODERS
from tests.test_cli import codecsweep


def test_list_encoders_says_weights_missing_in_the_cell_and_how_to_fetch_them_once_below(tmp_path):
    proc = codecsweep("list", "encoders", env={"TORCH_HOME": str(tmp_path / "torch")})
    table = proc.stdout.splitlines()
    learned = sorted(n for n in ENCODERS if n.startswith("cai_"))
    assert len(learned) == 12
    rows = {line.split()[0]: line for line in table[2:]}
    for name in learned:
        assert rows[name].split("  ")[0] == name and "unavailable: weights missing" in rows[name]
        assert ".pth.tar" not in rows[name] and "fetch-weights" not in rows[name]
    assert max(map(len, table)) < 200, max(table, key=len)  # the cells were ~750 characters
    # Below the table (on stderr: stdout stays the table), once: where, which files, the command.
    note = proc.stderr.strip().splitlines()
    folder = tmp_path / "torch/hub/checkpoints"
    assert note[0] == f"unavailable: weights missing: 12 learned codec(s) lack their weight files in {folder}:"
    files = dict(line.split() for line in note[1:13])
    assert sorted(files) == learned
    assert files["cai_mbt2018_mse"] == "mbt2018-{1,2,3,4,5,6,7,8}-*.pth.tar"
    assert files["cai_cheng2020_anchor_mse"] == "cheng2020-anchor-{1,2,3,4,5,6}-*.pth.tar"
    assert note[13].startswith("Fetch them on a connected machine and copy its $TORCH_HOME/hub/checkpoints here")
    command = " ".join(line.strip().rstrip("\\").strip() for line in note[14:])
    assert command == "codecsweep fetch-weights " + " ".join(learned)
    assert max(map(len, note[1:])) <= 130  # (the first line names the folder)
    # torch's "FutureWarning: `torch.jit.script` is deprecated" (compressai's import) is not shown.
    assert not re.search(r"Warning|warnings\.warn", proc.stderr), proc.stderr


def test_the_command_keeps_its_own_warnings_and_the_users_choice():
    """Only third-party deprecation notices are hidden: ``-W``/PYTHONWARNINGS still choose."""
    proc = codecsweep("list", "encoders", env={"PYTHONWARNINGS": "default::FutureWarning"})
    assert "FutureWarning" in proc.stderr and "torch.jit.script" in proc.stderr
