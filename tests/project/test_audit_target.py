"""`make audit`: strict, and every exception in the ignore file becomes --ignore-vuln."""

from __future__ import annotations

import re
import subprocess

from testkit.servers import ROOT


def audit_command(ignore_file) -> str:
    out = subprocess.run(
        [
            "make",
            "-n",
            "-W",
            "requirements.txt",
            "audit",
            f"AUDIT_IGNORE={ignore_file}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out[out.index("pip-audit") :]


def test_audit_is_strict_and_reads_every_hashed_lock_as_it_is():
    command = audit_command(ROOT / ".pip-audit-ignore")
    assert "--strict" in command
    # The locks are complete and hashed: audited as pinned, not re-resolved by pip.
    assert "--disable-pip" in command
    locks = {"requirements.txt"} | {
        f"requirements/{p.name}" for p in (ROOT / "requirements").glob("*.txt")
    }
    assert set(re.findall(r"-r (\S+)", command)) == locks


def test_each_listed_exception_is_passed_to_pip_audit_and_comments_are_not(tmp_path):
    ignore = tmp_path / "ignore"
    ignore.write_text(
        "# a comment line\n"
        "GHSA-abcd-1234-wxyz  no fix released; we never call the affected API\n"
        "\n"
        "PYSEC-2026-17 build tool only, not shipped\n"
    )
    command = audit_command(ignore)
    # make -n prints the command unexpanded: run its sed the way the shell would.
    [line] = [x for x in command.splitlines() if "$(sed" in x]
    sed = line[line.index("$(sed") + 2 : line.rindex(")")]
    flags = subprocess.run(
        ["bash", "-c", sed],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert flags == [
        "--ignore-vuln", "GHSA-abcd-1234-wxyz", "--ignore-vuln", "PYSEC-2026-17",
    ]  # fmt: skip


def test_the_committed_ignore_file_lists_a_reason_for_every_exception():
    for line in (ROOT / ".pip-audit-ignore").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            advisory, _, reason = line.partition(" ")
            assert reason.strip(), f"{advisory} has no reason"
