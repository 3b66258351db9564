"""The batch jobs never destroy their input or each other's outputs, name the file at
fault, and leave no temporary file behind, even when stopped or killed."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.csv as pcsv
import pytest

from batch import files
from batch import spark_job
from batch.score import main
from testkit.batchfiles import repeat_csv
from training.config import ROOT


def run(model_dir, *args) -> int:
    return main([*map(str, args), "--model-dir", str(model_dir), "--quiet"])


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def folder(records_csv, tmp_path) -> Path:
    """A folder holding only a copy of the sample records, in.csv."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "in.csv").write_bytes(records_csv.read_bytes())
    return work


def same_as_input(folder: Path, how: str) -> str:
    """Another path to in.csv: the same name, a relative one, a symlink, a hard link."""
    if how == "symlink":
        (folder / "link.csv").symlink_to(folder / "in.csv")
        return str(folder / "link.csv")
    if how == "hard link":
        os.link(folder / "in.csv", folder / "link.csv")
        return str(folder / "link.csv")
    if how == "relative":
        return os.path.relpath(folder / "sub") + "/../in.csv"
    return str(folder / "in.csv")


@pytest.mark.parametrize("how", ["same name", "relative", "symlink", "hard link"])
@pytest.mark.parametrize("clash", ["output", "errors"])
def test_an_output_that_is_the_input_file_is_refused_before_anything_is_read(
    clash, how, folder, tmp_path, capsys
):
    (folder / "sub").mkdir()
    before = (folder / "in.csv").read_bytes()
    other = same_as_input(folder, how)
    listed = names(folder)
    out = other if clash == "output" else folder / "out.csv"
    extra = ["--errors", other] if clash == "errors" else []
    # No model there: exit 2, not 3, shows the paths were checked before any reading.
    assert run(tmp_path / "no-model", folder / "in.csv", out, *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "are the same file" in err[0], err
    assert f"the {clash} {other}" in err[0]
    assert (folder / "in.csv").read_bytes() == before
    assert names(folder) == listed


def test_errors_written_to_the_output_file_are_refused(folder, model_dir, capsys):
    out = folder / "out.csv"
    assert run(model_dir, folder / "in.csv", out, "--errors", out) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"batch score: the output {out} and the errors {out} are the same file: "
        "give the errors another name"
    )
    assert names(folder) == ["in.csv"]


def test_an_output_that_is_a_folder_is_named_before_anything_is_read(
    folder, tmp_path, capsys
):
    out = folder / "out.csv"
    out.mkdir()
    assert run(tmp_path / "no-model", folder / "in.csv", out) == 2
    assert capsys.readouterr().err.strip() == (
        f"batch score: cannot write {out}: it is a folder"
    )
    assert names(folder) == ["in.csv", "out.csv"] and names(out) == []


class FullDisk:
    """pyarrow's CSV writer on a disk that fills up: for the temporary file of `target`
    only, the first write fails as it would with ENOSPC."""

    target: Path
    real = pcsv.CSVWriter

    def __init__(self, sink, schema, **options) -> None:
        self.full = Path(sink).name.startswith(f".{self.target.name}.")
        self.writer = self.real(sink, schema, **options)

    def write_batch(self, batch) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.writer.write_batch(batch)

    def close(self) -> None:
        self.writer.close()


@pytest.mark.parametrize("full", ["out.csv", "errors.csv"])
def test_a_full_disk_names_the_output_being_written_and_leaves_no_file(
    full, folder, model_dir, broken_csv, monkeypatch, capsys
):
    source = folder / "in.csv"
    source.write_bytes(broken_csv[0].read_bytes())  # rows rejected: errors are written
    monkeypatch.setattr(FullDisk, "target", folder / full, raising=False)
    monkeypatch.setattr(files.pcsv, "CSVWriter", FullDisk)
    errors = folder / "errors.csv"
    assert run(model_dir, source, folder / "out.csv", "--errors", errors) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"batch score: cannot write {folder / full}: No space left on device"
    assert names(folder) == ["in.csv"]


SLOW_SCORE = """
import sys
from batch import files, score
files.CSV_BLOCK = 4096  # small batches: a long run, whatever the machine
score.SCORE_ROWS = 1
sys.exit(score.main(sys.argv[1:]))
"""


def start_scoring(model_dir, source: Path, out: Path) -> subprocess.Popen:
    """The CLI on `source` in a process of its own, once its temporary output exists."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SCORE, str(source), str(out)]
        + ["--model-dir", str(model_dir), "--quiet", "--threads", "1"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(out.parent.glob(f".{out.name}.{proc.pid}.*")):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no temporary output after 60 s"
        time.sleep(0.02)
    return proc


@pytest.fixture
def long_input(records_csv, tmp_path) -> Path:
    """The sample records 50 times over: a run that lasts long enough to be stopped."""
    source = tmp_path / "long.csv"
    repeat_csv(records_csv, source, 50)
    return source


def test_sigterm_stops_the_cli_with_exit_143_and_no_file_left(
    model_dir, long_input, tmp_path
):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = start_scoring(model_dir, long_input, out_dir / "out.csv")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip() == "batch score: terminated (SIGTERM); no output written"
    assert names(out_dir) == []


def test_the_next_run_removes_what_a_killed_run_left_and_nothing_still_written(
    model_dir, long_input, records_csv, tmp_path
):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "out.csv"
    proc = start_scoring(model_dir, long_input, out)
    proc.kill()  # SIGKILL: nothing runs on the way out
    proc.wait(timeout=60)
    left = names(out_dir)
    assert len(left) == 1 and left[0].startswith(f".out.csv.{proc.pid}.")
    live = out_dir / f".out.csv.{os.getpid()}.abcd1234"  # this process is alive
    live.write_text("being written\n")
    assert run(model_dir, records_csv, out) in (0, 1)
    assert names(out_dir) == sorted([live.name, "out.csv"])


SPARK_CLASHES = {
    "output is the input": ("{d}/in", "{d}/in", None),
    "output inside the input": ("{d}/in", "{d}/in/scored", None),
    "input inside the output": ("{d}/in/part.csv", "{d}/in", None),
    "output in a glob's folder": ("{d}/in/*.csv", "{d}/in/scored", None),
    "output through a symlink": ("{d}/in", "{d}/link", None),
    "errors is the output": ("{d}/in", "{d}/out", "{d}/out/"),
    "errors is the input, remote": (
        "s3a://bucket/in/",
        "s3a://bucket/out",
        "s3a://bucket/in",
    ),
}


@pytest.mark.parametrize("case", SPARK_CLASHES)
def test_spark_paths_that_overlap_are_refused_before_spark_starts(
    case, tmp_path, capsys, monkeypatch
):
    def never(*args, **kwargs):
        raise AssertionError("Spark started")

    monkeypatch.setattr(spark_job, "session", never)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part.csv").write_text("a,b\n1,2\n")
    (tmp_path / "link").symlink_to(tmp_path / "in")
    before = names(tmp_path)
    source, out, errors = (p and p.format(d=tmp_path) for p in SPARK_CLASHES[case])
    extra = ["--errors", errors] if errors else []
    assert spark_job.main([source, out, *extra, "--model-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "one holds the other" in err[0], err
    assert names(tmp_path) == before and names(tmp_path / "in") == ["part.csv"]


def test_spark_paths_side_by_side_are_accepted(tmp_path):
    d = str(tmp_path)
    pairs = [(f"{d}/in", f"{d}/in-rejected"), ("s3a://b/in", "s3a://b/in2")]
    for a, b in pairs + [(f"{d}/in/", f"{d}/out"), (f"{d}/in/*.csv", f"{d}/out")]:
        assert not spark_job.overlap(a, b)
