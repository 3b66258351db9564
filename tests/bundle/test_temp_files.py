"""Temporary files name their process; a later run removes only those of ended ones."""

from __future__ import annotations

import os
import pathlib
import subprocess

from bundle.files import remove_stale_temps, temp_prefix, write_bytes_atomic


def dead_pid() -> int:
    """The id of a process that has ended."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_only_the_temporaries_of_ended_processes_are_removed(tmp_path):
    target = tmp_path / "out.csv"
    dead, live = dead_pid(), os.getppid()
    (tmp_path / f".out.csv.{dead}.a1b2c3d4").write_text("left by a killed run")
    (tmp_path / f".out.csv.{dead}.e5f6g7h8.tmp").write_text("left by a killed run")
    (tmp_path / f".out.csv.{dead}.folder00").mkdir()
    kept = [
        f".out.csv.{live}.a1b2c3d4",  # a run still writing
        f".other.csv.{dead}.a1b2c3d4",  # another output's
        ".out.csv.previous",
        "out.csv",
    ]
    for name in kept:
        (tmp_path / name).write_text("keep")
    removed = remove_stale_temps(target)
    assert len(removed) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_a_temporary_that_cannot_be_removed_is_left_without_an_error(
    tmp_path, monkeypatch
):
    stale = tmp_path / f".out.csv.{dead_pid()}.a1b2c3d4"
    stale.write_text("another user's")

    def refuse(self, missing_ok=False):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "unlink", refuse)
    assert remove_stale_temps(tmp_path / "out.csv") == []
    assert stale.exists()


def test_an_atomic_write_names_its_temporary_after_its_process_and_cleans_up(
    tmp_path,
):
    (tmp_path / f".data.json.{dead_pid()}.x1y2z3w4.tmp").write_text("{")
    write_bytes_atomic(tmp_path / "data.json", b"{}")
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]
    assert temp_prefix(tmp_path / "data.json") == f".data.json.{os.getpid()}."
