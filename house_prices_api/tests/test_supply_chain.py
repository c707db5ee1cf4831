"""Supply chain: every pinned requirement is exact, and none has a known vulnerability.

pip-audit checks every pinned requirements file of the repository against
the vulnerability service (PyPI's per-release JSON API by default;
``PIP_AUDIT_SERVICE=osv`` for OSV). Each file is passed by name (pip-audit
does not follow ``-r`` includes with ``--no-deps``) and nothing is resolved
or installed. A vulnerability fails the test unless
``house_prices_api/pip-audit-allowlist.txt`` lists its id with a reason.

The live audit is marked ``live_audit`` and runs in ``tox -e audit``, not in
the default suite: this project's machines reach PyPI's package index but not
its per-release JSON API nor OSV, so there the audit could only fail. When the
service cannot answer for every package, the audit proves nothing and fails.
The default suite still checks the pins, the allow-list and the gate's logic
(against a local stand-in for the vulnerability service).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from servers import API_DIR, REPO_ROOT

ALLOWLIST = API_DIR / "pip-audit-allowlist.txt"
# The model itself comes from the project's own index, never from PyPI.
NOT_ON_PYPI = {API_DIR / "requirements-model.txt"}
PIN = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)")
VULN_ID = re.compile(r"[A-Z][A-Z0-9]*-[A-Za-z0-9-]+")


def requirement_files() -> list[Path]:
    """Every requirements file in the repository that pins packages from PyPI."""
    candidates = [
        REPO_ROOT / "requirements.txt",
        *sorted((REPO_ROOT / "requirements").glob("*.txt")),
        *sorted(API_DIR.glob("requirements*.txt")),
    ]
    return [path for path in candidates if path not in NOT_ON_PYPI]


def pinned(path: Path) -> dict[str, str]:
    """A file's own pins (not its includes), by normalised name."""
    pins = {}
    for raw_line in path.read_text().splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if not line or line.startswith("-r "):
            continue
        match = PIN.fullmatch(line)
        if match is None:
            raise AssertionError(
                f"{path.name}: {line!r} is not an exact pin (name==version)"
            )
        pins[_normalise(match["name"])] = match["version"]
    return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def allowlisted() -> dict[str, str]:
    """The allow-list: vulnerability id -> the reason it is accepted."""
    entries = {}
    for line in ALLOWLIST.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        vuln_id, _, reason = line.strip().partition(" ")
        if not VULN_ID.fullmatch(vuln_id) or not reason.strip():
            raise AssertionError(f"allow-list line {line!r} needs an id and a reason")
        entries[vuln_id] = reason.strip()
    return entries


@pytest.mark.parametrize("path", requirement_files(), ids=lambda path: path.name)
def test_every_requirement_is_pinned_exactly(path: Path) -> None:
    # Raises, naming the line, on a range, a URL or an unpinned name
    pinned(path)


def test_the_allowlist_gives_a_reason_for_every_entry() -> None:
    assert all(allowlisted().values())


def run_pip_audit(*service: str) -> dict[str, Any]:
    """pip-audit's JSON report over every pinned requirements file at once."""
    command = [sys.executable, "-m", "pip_audit", "--no-deps", "--disable-pip"]
    for path in requirement_files():
        command += ["-r", str(path)]
    command += ["--format=json", "--aliases=on", "--desc=off", "--progress-spinner=off"]
    completed = subprocess.run(
        [*command, *service],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=REPO_ROOT,
    )
    try:
        report: dict[str, Any] = json.loads(completed.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"pip-audit gave no report (exit {completed.returncode}); is the "
            f"vulnerability service reachable?\n{completed.stderr[-3000:]}"
        )
    return report


@dataclass(frozen=True)
class AuditOutcome:
    """What an audit report means for the gate."""

    not_audited: list[str]  # skip reasons: the service did not answer for these
    unlisted: list[str]  # vulnerabilities not on the allow-list
    stale: list[str]  # allow-list ids that no pinned package has


def judge(report: dict[str, Any], allowed: dict[str, str]) -> AuditOutcome:
    """Sort a pip-audit report into what fails the gate and why."""
    dependencies = report["dependencies"]
    expected = set().union(*(pinned(path) for path in requirement_files()))
    assert {_normalise(dep["name"]) for dep in dependencies} == expected
    found = [
        (dep["name"], dep["version"], vuln["id"], vuln.get("aliases", []))
        for dep in dependencies
        for vuln in dep.get("vulns", ())
    ]
    reported = {name for *_, vuln_id, aliases in found for name in (vuln_id, *aliases)}
    return AuditOutcome(
        not_audited=[dep["skip_reason"] for dep in dependencies if "skip_reason" in dep],
        unlisted=[
            f"{name} {version}: {vuln_id} (aliases: {', '.join(aliases) or 'none'})"
            for name, version, vuln_id, aliases in found
            if not allowed.keys() & {vuln_id, *aliases}
        ],
        stale=sorted(set(allowed) - reported),
    )


@pytest.mark.live_audit
def test_no_pinned_package_has_an_unlisted_vulnerability() -> None:
    # Given pip-audit's findings for every pinned package
    service = os.environ.get("PIP_AUDIT_SERVICE", "pypi")
    outcome = judge(run_pip_audit("--vulnerability-service", service), allowlisted())
    # When some could not be audited, the audit proves nothing
    if outcome.not_audited:
        message = (
            f"the vulnerability service ({service}) did not answer for "
            f"{len(outcome.not_audited)} pinned packages, e.g. "
            f"{outcome.not_audited[0]!r}; pip-audit needs PyPI's per-release JSON "
            "API (/pypi/NAME/VERSION/json) or OSV (api.osv.dev)"
        )
        pytest.fail(message)
    # Then every vulnerability found is allow-listed, and every entry still needed
    assert outcome.unlisted == [], "upgrade these pins, or allow-list them with a reason"
    assert outcome.stale == [], "remove these allow-list entries"


class _FakeOSV(BaseHTTPRequestHandler):
    """OSV's query API, knowing one vulnerability: GHSA-fake-0001 in requests."""

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = query["package"]["name"]
        vulns = [] if name != "requests" else [FAKE_VULN]
        body = json.dumps({"vulns": vulns} if vulns else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        """Quiet."""


FAKE_VULN = {
    "id": "GHSA-fake-0001",
    "aliases": ["CVE-2099-0001"],
    "summary": "a made-up flaw",
    "affected": [
        {
            "package": {"name": "requests", "ecosystem": "PyPI"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
        }
    ],
}


@pytest.fixture(scope="module")
def fake_osv_report() -> Iterator[dict[str, Any]]:
    """pip-audit's report from a loopback OSV that knows one vulnerability."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOSV)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/query"
        yield run_pip_audit("--vulnerability-service=osv", f"--osv-url={url}")
    finally:
        server.shutdown()
        thread.join()


@pytest.mark.process
def test_the_gate_fails_on_a_vulnerability_not_allowlisted(
    fake_osv_report: dict[str, Any],
) -> None:
    outcome = judge(fake_osv_report, allowed={})

    assert outcome.not_audited == []
    assert len(outcome.unlisted) == 1
    assert outcome.unlisted[0].startswith("requests 2.34.2: ")
    assert "GHSA-fake-0001" in outcome.unlisted[0]


@pytest.mark.parametrize("listed_as", ["GHSA-fake-0001", "CVE-2099-0001"])
@pytest.mark.process
def test_the_gate_accepts_an_allowlisted_vulnerability_by_id_or_alias(
    fake_osv_report: dict[str, Any], listed_as: str
) -> None:
    outcome = judge(fake_osv_report, allowed={listed_as: "a reason"})

    assert (outcome.unlisted, outcome.stale) == ([], [])


@pytest.mark.process
def test_the_gate_flags_allowlist_entries_no_longer_needed(
    fake_osv_report: dict[str, Any],
) -> None:
    allowed = {"GHSA-fake-0001": "a reason", "PYSEC-2000-1": "fixed long ago"}

    assert judge(fake_osv_report, allowed).stale == ["PYSEC-2000-1"]
