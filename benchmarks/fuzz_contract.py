"""A long contract-fuzzing run: the real service against its own OpenAPI document.

    PYTHONPATH=.:house_prices_api python benchmarks/fuzz_contract.py --examples 2000

Starts the service (bin/start -> uvicorn) on a free 127.0.0.1 port, with API
keys on, and runs the same schemathesis command as the test suite's
``test_contract_fuzz.py`` (every phase, every check, the service's own
``one_answer_per_row``), with many more examples per operation. Prints what
was generated and accepted per operation and phase, and every failure; exits
1 if there was any. The server is always stopped.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent / "house_prices_api" / "tests"
sys.path.insert(0, str(TESTS_DIR))

from contract import report_problems, run_contract_fuzz  # noqa: E402
from servers import START_SCRIPT, start_server  # noqa: E402

API_KEY = "fuzz-contract-benchmark-key-9d41"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="per operation")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--open", action="store_true", help="serve without API keys")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fuzz-contract-") as scratch:
        workdir = Path(scratch)
        env = {"MAX_ROWS": "300", "LOG_LEVEL": "WARNING"}
        headers = {}
        if not args.open:
            env["API_KEYS"] = API_KEY
            headers["X-API-Key"] = API_KEY
        server = start_server([str(START_SCRIPT)], workdir / "server.log", env=env)
        try:
            started = time.perf_counter()
            report, output = run_contract_fuzz(
                server.base_url,
                workdir,
                max_examples=args.examples,
                seed=args.seed,
                headers=headers,
                workers=args.workers,
                timeout=3600,
            )
            seconds = time.perf_counter() - started
            alive = server.process.poll() is None
        finally:
            server.stop()

    cases = report["test_cases"]
    print(f"seed {args.seed}, {args.examples} examples per operation, {seconds:.1f} s")
    print(f"test cases: {cases['generated']} generated, {cases['with_failures']} failing")
    for operation, phases in report["valid_rates"].items():
        for phase, rates in phases.items():
            print(f"  {operation:24} {phase:9} {rates}")
    problems = report_problems(report)
    if not alive:
        problems.append("the server died during the run")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if problems:
        print(output[-8000:])
        return 1
    print("no problems found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
