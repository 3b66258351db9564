"""`make help`: every target the Makefiles define, once, under a section, in one column.

The targets are make's own (its database, `make -pRrq`), not a list kept here: a target
added without a `## description` or outside a `##@ Section` fails these tests.
"""

from __future__ import annotations

import re
import subprocess

from testkit.servers import ROOT

LINE = re.compile(r"^  make (\S+)( +)(\S.*)$")


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def defined_targets(*makefiles: str) -> set[str]:
    """The targets make reads from the Makefiles (files such as stamps left out)."""
    files = [arg for name in makefiles for arg in ("-f", name)]
    database = make("-pRrq", *files, ":").stdout
    body = database[database.index("\n# Files") : database.index("# Finished Make")]
    targets, not_a_target = set(), False
    for line in body.splitlines():
        match = re.match(r"^([a-zA-Z][a-zA-Z0-9_-]*):", line)
        if match and not not_a_target:
            targets.add(match.group(1))
        not_a_target = line.startswith("# Not a target:")
    return targets


def help_listing(*makefiles: str) -> tuple[list[tuple[str | None, str]], list[str]]:
    """make help as [(section or None if above every heading, target)], and its lines."""
    files = [arg for name in makefiles for arg in ("-f", name)]
    out = make(*files, "help")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    entries, section = [], None
    for line in lines:
        match = LINE.match(line)
        if match:
            entries.append((section, match.group(1)))
        elif line.strip():
            section = line.strip()
    return entries, lines


def test_make_help_lists_every_target_of_the_makefiles_once_under_a_section():
    entries, _ = help_listing()
    names = [name for _, name in entries]
    assert sorted(names) == sorted(defined_targets())
    assert len(names) == len(set(names))
    assert [name for section, name in entries if section is None] == []


def test_the_help_column_is_as_wide_as_the_longest_target_name():
    _, lines = help_listing()
    rows = [LINE.match(line) for line in lines if LINE.match(line)]
    columns = {m.start(3) for m in rows}
    assert len(columns) == 1, "descriptions start at different columns"
    assert min(len(m.group(2)) for m in rows) == 2


def test_every_bench_target_is_in_one_section_that_holds_only_benchmarks():
    entries, _ = help_listing()
    sections = {section for section, name in entries if name.startswith("bench")}
    assert len(sections) == 1
    together = [name for section, name in entries if section in sections]
    assert all(name.startswith("bench") for name in together)


def test_the_deploy_targets_of_deploy_targets_mk_join_the_makefile_s_sections():
    entries, _ = help_listing()
    section_of = dict((name, section) for section, name in entries)
    assert section_of["deploy-aws"] == section_of["deploy-heroku"]
    assert section_of["lint-deploy"] == section_of["lint"]
    assert section_of["bench-rolling"] == section_of["bench"]


def test_make_deploy_is_heroku_s_deploy_by_its_older_name():
    entries, lines = help_listing()
    [deploy] = [line for line in lines if (m := LINE.match(line)) and m[1] == "deploy"]
    assert "Heroku" in deploy and "deploy-heroku" in deploy
    alias = make("-n", "deploy", "APP_URL=https://app.example")
    heroku = make("-n", "deploy-heroku", "APP_URL=https://app.example")
    assert alias.returncode == heroku.returncode == 0
    assert alias.stdout == heroku.stdout
    assert "git push heroku main" in heroku.stdout


def test_a_target_outside_every_section_or_without_a_description_is_caught(tmp_path):
    extra = tmp_path / "extra.mk"
    extra.write_text(
        "stray: ## Defined before any section\n\t@true\nsilent:\n\t@true\n"
    )
    entries, _ = help_listing("Makefile", str(extra))
    assert (None, "stray") in entries
    listed = {name for _, name in entries}
    assert "silent" in defined_targets("Makefile", str(extra)) - listed
