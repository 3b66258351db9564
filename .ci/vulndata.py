"""Whether pip-audit can get vulnerability data here (make ci): exit 0 when its service
answers for a package pinned in the lock, else print why not, in one line, and exit 1.

Usage: python .ci/vulndata.py pypi|osv LOCK. A package index mirror answers PyPI's
project pages but not the per-version JSON that carries the vulnerabilities: that is "no
data", not "no vulnerabilities".
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

# The queries pip-audit sends (pip_audit/_service/pypi.py and osv.py), and the key of the
# answer that holds the advisories: PyPI lists a release's under "vulnerabilities", OSV
# answers {} when there are none.
PYPI = "https://pypi.org/pypi/{name}/{version}/json"
OSV = "https://api.osv.dev/v1/query"
KEYS = {"pypi": "vulnerabilities", "osv": None}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


def first_pin(lock: str) -> tuple[str, str]:
    """The first `name==version` of a requirements file."""
    match = PIN.search(lock)
    if match is None:
        raise ValueError("the lock pins no package")
    return match.group(1), match.group(2)


def query(service: str, name: str, version: str) -> urllib.request.Request:
    """The request pip-audit's `service` would send for one pinned package."""
    if service == "osv":
        body = {"package": {"name": name, "ecosystem": "PyPI"}, "version": version}
        return urllib.request.Request(
            OSV,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
    if service == "pypi":
        return urllib.request.Request(PYPI.format(name=name, version=version))
    raise ValueError(f"unknown vulnerability service {service!r} (pypi or osv)")


def why_not(
    request: urllib.request.Request, key: str | None, timeout: float = 15
) -> str | None:
    """None when the JSON answer has `key` (vulnerability data: an empty list is data)."""
    url = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        return f"{url} answered HTTP {exc.code}, no vulnerability data"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url} is unreachable ({getattr(exc, 'reason', exc)})"
    except ValueError:
        return f"{url} answered something other than JSON"
    if not isinstance(answer, dict) or (key is not None and key not in answer):
        return f"{url} answered without vulnerability data"
    return None


def main(argv: list[str]) -> int:
    service, lock = argv
    try:
        request = query(service, *first_pin(Path(lock).read_text()))
        reason = why_not(request, KEYS[service])
    except (OSError, ValueError) as exc:
        reason = f"{lock}: {exc}"
    if reason:
        print(reason)
    return 1 if reason else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
