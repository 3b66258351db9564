"""A program a test needs: found, it is used; missing, CI fails and elsewhere it skips."""

from __future__ import annotations

import pytest

from testkit.tools import required


def test_a_found_program_is_returned():
    assert required("HAProxy", "/usr/sbin/haproxy") == "/usr/sbin/haproxy"


def test_a_missing_program_fails_the_test_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="HAProxy is required in CI"):
        required("HAProxy", None)


def test_a_missing_program_skips_the_test_elsewhere_saying_why(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no apt here"):
        required("HAProxy", None, "no apt here")
