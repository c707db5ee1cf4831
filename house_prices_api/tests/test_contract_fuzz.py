"""Contract fuzzing: the service against its own OpenAPI document, over real HTTP.

schemathesis reads ``/openapi.json`` from a real server (bin/start -> uvicorn,
API keys on), generates valid and invalid requests for every operation and
checks every response: no 5xx; status code, content type, headers and body
as documented; schema-valid requests accepted; the API key enforced; one
answer per row (see ``contract.py`` for the one built-in check this API
replaces). Examples are bounded and the seed fixed, so the run is short and
the same every time; ``benchmarks/fuzz_contract.py`` runs many more.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from contract import report_problems, run_contract_fuzz
from servers import START_SCRIPT, RunningServer, start_server

pytestmark = pytest.mark.process

API_KEY = "contract-fuzz-key-4f9c2a7e1b"
EXAMPLES_PER_OPERATION = 40
SEED = 20_261_129


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("fuzz") / "server.log"
    server = start_server(
        [str(START_SCRIPT)],
        log,
        env={"API_KEYS": API_KEY, "MAX_ROWS": "300", "LOG_LEVEL": "WARNING"},
    )
    yield server
    server.stop()


def test_every_response_keeps_the_documented_contract(
    fuzzed_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given the real service and its own OpenAPI document
    workdir = tmp_path_factory.mktemp("schemathesis")
    # When schemathesis sends it generated requests, valid and invalid
    report, output = run_contract_fuzz(
        fuzzed_server.base_url,
        workdir,
        max_examples=EXAMPLES_PER_OPERATION,
        seed=SEED,
        headers={"X-API-Key": API_KEY},
    )
    # Then every operation was tested and no check failed
    assert report_problems(report) == [], output[-6000:]
    assert report["test_cases"]["generated"] >= 2 * EXAMPLES_PER_OPERATION
    assert fuzzed_server.process.poll() is None
