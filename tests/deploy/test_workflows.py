"""The GitHub workflow: CI on every push and PR, CD to Heroku only after CI on main.

CI has one entry, `make ci`, which the workflow and .ci/run both call: lint, the whole
suite, the suite on each example data set, and the dependency audit where it can run.
"""

from __future__ import annotations

import http.server
import importlib.util
import os
import re
import subprocess
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from testkit.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


@pytest.fixture(scope="module")
def ci() -> dict:
    return load(ROOT / ".github" / "workflows" / "ci.yml")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_parses_and_has_jobs(path):
    assert load(path)["jobs"]


def test_retraining_compares_a_challenger_and_opens_a_pull_request_only_on_pass():
    retrain = load(ROOT / ".github" / "workflows" / "retrain.yml")
    assert set(retrain["on"]) == {"schedule", "workflow_dispatch"}
    steps = retrain["jobs"]["retrain"]["steps"]
    order = [s.get("run", "").split("\n")[0] for s in steps]
    challenger, compare = order.index("make challenger"), order.index("make compare")
    assert challenger < compare
    gate = steps[compare]
    assert gate["continue-on-error"] and gate["id"] == "compare"
    passed = "steps.compare.outcome == 'success'"
    promoting = [s for s in steps if "make promote" in s.get("run", "")]
    assert [s["if"] for s in promoting] == [passed]
    script = promoting[0]["run"]
    assert script.index("git switch -c") < script.index("make promote")
    assert script.index("make promote") < script.index("git push")
    assert "gh pr create" in script
    refused = [s for s in steps if s.get("if") == "steps.compare.outcome != 'success'"]
    assert len(refused) == 1 and "exit 1" in refused[0]["run"]
    attach = [s for s in steps if s.get("uses", "").startswith("actions/upload-")]
    assert attach[0]["if"] == "always()"
    assert attach[0]["with"]["path"].startswith("build/compare")


def test_ci_runs_on_push_and_pull_request(ci):
    assert {"push", "pull_request"} <= set(ci["on"])


def test_ci_runs_make_ci_the_same_entry_as_the_ci_script_with_the_audit_required(ci):
    job = ci["jobs"]["test"]
    step = next(s for s in job["steps"] if "make ci" in s.get("run", ""))
    # With the step's environment, an audit that cannot run fails CI, and so does a skip
    # (testkit/markers.py, testkit/tools.py read CI).
    env = {**os.environ, **{k: str(v) for k, v in step["env"].items()}}
    out = make_ci(ROOT, "AUDIT_PROBE=echo no route to host; false", env=env)
    assert out.returncode != 0 and "AUDIT=required" in out.stderr, out.stderr
    assert step["env"].get("CI"), "the step must set CI itself"
    assert "make install" in runs(job)
    commands = {line.strip() for line in runs(job).splitlines()} - {"make install", ""}
    assert commands == {"make ci"}
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    assert [line for line in script if line.startswith("make ")] == ["make ci"]
    setup = next(s for s in job["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["with"]["cache"] == "pip"


def make_ci(cwd: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    """`make -n ci`: recipes printed, not run, except the lines that call make or decide."""
    return subprocess.run(
        ["make", "--no-print-directory", "-n", "ci", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_ci_lints_then_runs_the_suite_then_each_example_s_suite_then_the_audit():
    out = make_ci(ROOT, "AUDIT_PROBE=true")
    assert out.returncode == 0, out.stderr
    steps = [
        "pre-commit run --all-files",
        ".venv/bin/pytest\n",
        *(
            f"--params examples/{name}/params.yaml"
            for name in make_variable("CI_EXAMPLES").split()
        ),
        "pip-audit --strict",
    ]
    at = [out.stdout.find(step) for step in steps]
    assert -1 not in at, dict(zip(steps, at))
    assert at == sorted(at)


def test_make_ci_runs_the_suite_on_the_examples_ci_examples_names_each_a_folder():
    out = make_ci(ROOT, "AUDIT_PROBE=true")
    assert out.returncode == 0, out.stderr
    ran = re.findall(r"--params examples/(\S+)/params.yaml", out.stdout)
    named = make_variable("CI_EXAMPLES").split()
    assert ran == named and "german_credit" in ran and len(ran) >= 2
    for name in named:
        assert (ROOT / "examples" / name / "params.yaml").is_file(), name
    out = make_ci(ROOT, "AUDIT_PROBE=true", "CI_EXAMPLES=wine auto_mpg")
    assert re.findall(r"--params examples/(\S+)/params.yaml", out.stdout) == [
        "wine",
        "auto_mpg",
    ]


def make_variable(name: str) -> str:
    """A variable's value as make expands it in this checkout's Makefile."""
    out = subprocess.run(
        ["make", "--no-print-directory", "-pn", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return re.search(rf"^{name} = ?(.*)$", out.stdout, re.M).group(1)


def test_make_ci_without_vulnerability_data_says_the_audit_did_not_run_and_why():
    out = make_ci(ROOT, "AUDIT_PROBE=echo pypi.org answered HTTP 404; false")
    assert out.returncode == 0, out.stderr
    assert "dependency audit not run: pypi.org answered HTTP 404" in out.stdout
    assert "pip-audit" not in out.stdout


def test_make_ci_with_the_audit_required_fails_when_it_cannot_run():
    out = make_ci(ROOT, "AUDIT=required", "AUDIT_PROBE=echo no route to host; false")
    assert out.returncode != 0
    assert "AUDIT=required, but no route to host" in out.stderr
    assert "pip-audit" not in out.stdout


def vulndata():
    """.ci/vulndata.py as a module (its folder is no package)."""
    path = ROOT / ".ci" / "vulndata.py"
    spec = importlib.util.spec_from_file_location("vulndata", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def answering():
    """A 127.0.0.1 server answering GET /<status>/<body> with that status and body."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            _, status, body = self.path.split("/", 2)
            self.send_response(int(status))
            self.end_headers()
            self.wfile.write(urllib.parse.unquote(body).encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_probe_accepts_only_an_answer_that_carries_vulnerability_data(answering):
    probe = vulndata()
    ask = lambda path: probe.why_not(  # noqa: E731
        urllib.request.Request(f"{answering}/{urllib.parse.quote(path)}"),
        "vulnerabilities",
        timeout=5,
    )
    assert ask('200/{"vulnerabilities": []}') is None
    assert "without vulnerability data" in ask('200/{"info": {}}')
    assert "answered HTTP 404" in ask("404/")
    assert "other than JSON" in ask("200/<html>")
    closed = free_port()
    assert "unreachable" in probe.why_not(
        urllib.request.Request(f"http://127.0.0.1:{closed}/"), None, timeout=5
    )


def test_the_probe_asks_about_the_lock_s_first_pin_as_pip_audit_would():
    probe = vulndata()
    lock = "# header\nflask==3.1.3 \\\n    --hash=sha256:ab\nnumpy==2.4.6\n"
    assert probe.first_pin(lock) == ("flask", "3.1.3")
    assert probe.query("pypi", "flask", "3.1.3").full_url == (
        "https://pypi.org/pypi/flask/3.1.3/json"
    )
    assert probe.query("osv", "flask", "3.1.3").get_method() == "POST"
    with pytest.raises(ValueError, match="unknown vulnerability service 'nvd'"):
        probe.query("nvd", "flask", "3.1.3")


def test_deploy_runs_only_after_ci_passed_on_main(ci):
    deploy = ci["jobs"]["deploy"]
    assert deploy["needs"] == "test"
    assert "refs/heads/main" in deploy["if"] and "push" in deploy["if"]


def test_deploy_pushes_with_the_heroku_api_key_then_smoke_tests_the_live_app(ci):
    deploy = ci["jobs"]["deploy"]
    assert deploy["env"]["HEROKU_API_KEY"] == "${{ secrets.HEROKU_API_KEY }}"
    commands = runs(deploy)
    push = commands.index("git.heroku.com")
    assert push < commands.index("python smoke_test.py")
