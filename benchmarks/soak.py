"""Soak test: sustained mixed load on the real service, watching errors and memory.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/soak.py --seconds 600

Starts the service (``bin/start``) on a free 127.0.0.1 port, then
``--connections`` threads, each with its own keep-alive ``http.client``
connection, send a seeded mix of requests until time runs out: one valid
row, one invalid row (422), 100 rows of which 10 are invalid, and 100 valid
rows. Rows are variations of the example house in the service's own OpenAPI
document, so the client needs nothing but HTTP.

It reports requests per second and p50/p99 latency after the warm-up, the
count of every status, 5xx responses, dropped connections (connection errors,
resets and client timeouts), answers of the wrong shape, and each worker's
resident memory (VmRSS from /proc) after the warm-up and at the end. It exits
1 if any request got a 5xx, any connection dropped, any answer was wrong, a
worker was replaced, or a worker's memory grew by ``--max-rss-growth`` (10%)
or more after the warm-up; ``--json PATH`` writes the figures for machines.
Client and server share this machine's cores: throughput is a floor.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.local_processes import (
    LOOPBACK,
    free_port,
    rss_kib,
    serving_pids,
    start_server,
    tool_path,
    wait_for_serving,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
START_SCRIPT = REPO_ROOT / "house_prices_api" / "bin" / "start"
PREDICT = "/api/v1/predict"
HEALTH_PATH = "/api/v1/health"
HEADERS = {"Content-Type": "application/json"}
INVALID_CHANGES: list[dict[str, Any]] = [
    {"Neighborhood": "Atlantis"},
    {"OverallQual": 11},
    {"GrLivArea": -5},
    {"LotArea": "big"},
    {"GrLivArea": None},
    {"CentralAir": "Maybe"},
]


@dataclass(frozen=True)
class RequestKind:
    """One kind of request in the mix: its bodies and the answer it must get."""

    name: str
    weight: float
    rows: int
    priced: int
    status: int
    bodies: list[bytes]


@dataclass
class Tally:
    """What the client threads saw; every field is updated under ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)
    wrong: int = 0
    wrong_examples: list[str] = field(default_factory=list)
    measured_from: float = 0.0


def service_env(port: int, args: argparse.Namespace) -> dict[str, str]:
    """The service's environment: this one plus its settings."""
    env = dict(os.environ)
    # Absolute: bin/start may change folder before the import.
    paths = env.get("PYTHONPATH", "").split(os.pathsep)
    env["PYTHONPATH"] = os.pathsep.join(
        str(Path(path).resolve()) for path in paths if path
    ) or str(REPO_ROOT)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(
        HOST=LOOPBACK,
        PORT=str(port),
        PATH=tool_path(),
        WEB_CONCURRENCY=str(args.workers),
        SCORER_BACKEND=args.backend,
        LOG_LEVEL=args.log_level,
    )
    return env


def openapi_example(port: int) -> tuple[dict[str, Any], list[str]]:
    """The documented example house and the documented neighbourhood labels."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    connection.request("GET", "/openapi.json")
    spec = json.loads(connection.getresponse().read())
    body = spec["paths"][PREDICT]["post"]["requestBody"]["content"]
    example = body["application/json"]["examples"]["one house"]["value"]["inputs"][0]
    field_schema = spec["components"]["schemas"]["HouseFeatures"]["properties"]
    labels = next(
        option["enum"]
        for option in field_schema["Neighborhood"]["anyOf"]
        if "enum" in option
    )
    return dict(example), list(labels)


def request_kinds(
    example: dict[str, Any], neighbourhoods: list[str], rng: random.Random
) -> list[RequestKind]:
    """Pools of distinct bodies per kind, built once so the client spends little CPU."""

    def valid() -> dict[str, Any]:
        row = {
            **example,
            "GrLivArea": rng.randint(600, 3500),
            "OverallQual": rng.randint(1, 10),
            "Neighborhood": rng.choice(neighbourhoods),
        }
        if rng.random() < 0.3:
            row["LotFrontage"] = None  # imputed
        return row

    def invalid() -> dict[str, Any]:
        return {**valid(), **rng.choice(INVALID_CHANGES)}

    def pool(make_rows: Any) -> list[bytes]:
        return [json.dumps({"inputs": make_rows()}).encode() for _ in range(32)]

    def mixed() -> list[dict[str, Any]]:
        rows = [valid() for _ in range(90)] + [invalid() for _ in range(10)]
        rng.shuffle(rows)
        return rows

    def hundred_valid() -> list[dict[str, Any]]:
        return [valid() for _ in range(100)]

    return [
        RequestKind("1 valid", 0.5, 1, 1, 200, pool(lambda: [valid()])),
        RequestKind("1 invalid", 0.2, 1, 0, 422, pool(lambda: [invalid()])),
        RequestKind("100 mixed", 0.2, 100, 90, 200, pool(mixed)),
        RequestKind("100 valid", 0.1, 100, 100, 200, pool(hundred_valid)),
    ]


def check_answer(kind: RequestKind, status: int, raw: bytes) -> str | None:
    """What is wrong with an answer, or ``None`` if it is the one this kind must get."""
    if status != kind.status:
        return f"{kind.name}: status {status}, expected {kind.status}"
    body = json.loads(raw)
    predictions = body["predictions"]
    priced = sum(price is not None for price in predictions)
    if len(predictions) != kind.rows or priced != kind.priced:
        return (
            f"{kind.name}: {priced} of {len(predictions)} priced, expected {kind.priced}"
        )
    return None


def client(
    port: int,
    kinds: list[RequestKind],
    seed: int,
    *,
    args: argparse.Namespace,
    deadline: float,
    tally: Tally,
) -> None:
    """Send requests on one keep-alive connection until ``deadline``.

    A dropped connection is counted and replaced by a new one.
    """
    timeout = args.timeout
    rng = random.Random(seed)
    weights = [kind.weight for kind in kinds]
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            started = time.monotonic()
            try:
                connection.request("POST", PREDICT, rng.choice(kind.bodies), HEADERS)
                response = connection.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                with tally.lock:
                    tally.dropped[type(error).__name__] += 1
                continue
            elapsed = time.monotonic() - started
            problem = (
                None
                if response.status >= 500
                else check_answer(kind, response.status, raw)
            )
            with tally.lock:
                tally.statuses[response.status] += 1
                if problem:
                    tally.wrong += 1
                    tally.wrong_examples = [*tally.wrong_examples, problem][:10]
                if started >= tally.measured_from:
                    tally.latencies.setdefault(kind.name, []).append(elapsed)
    finally:
        connection.close()


def percentile_ms(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return round(ordered[index] * 1000, 2)


def soak(port: int, server_pid: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run the load for ``args.seconds``; return the figures and what failed."""
    example, neighbourhoods = openapi_example(port)
    kinds = request_kinds(example, neighbourhoods, random.Random(args.seed))
    load_start = os.getloadavg()
    started = time.monotonic()
    deadline = started + args.seconds
    tally = Tally(measured_from=started + args.warmup)
    threads = [
        threading.Thread(
            target=client,
            args=(port, kinds, args.seed + index),
            kwargs={"args": args, "deadline": deadline, "tally": tally},
            daemon=True,
        )
        for index in range(args.connections)
    ]
    for thread in threads:
        thread.start()
    pids_at_start = sorted(wait_for_serving(server_pid, args.workers, timeout=60))
    time.sleep(max(0.0, tally.measured_from - time.monotonic()))
    pids_after_warmup = sorted(serving_pids(server_pid))
    rss_start = {pid: rss_kib(pid) for pid in pids_after_warmup}
    time.sleep(max(0.0, deadline - time.monotonic() - 1.0))
    pids_at_end = sorted(serving_pids(server_pid))
    rss_end = {pid: rss_kib(pid) for pid in pids_at_end if pid in rss_start}
    for thread in threads:
        thread.join(args.timeout + 5)
    measured_s = time.monotonic() - tally.measured_from
    every_latency = [value for values in tally.latencies.values() for value in values]
    growth = {
        pid: round(100 * (rss_end[pid] - rss_start[pid]) / rss_start[pid], 2)
        for pid in rss_end
    }
    server_errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    dropped = sum(tally.dropped.values())
    result: dict[str, Any] = {
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "workers": args.workers,
        "backend": args.backend,
        "requests": sum(tally.statuses.values()),
        "requests_after_warmup": len(every_latency),
        "requests_per_s": round(len(every_latency) / measured_s, 1),
        "latency_ms": {
            "p50": percentile_ms(every_latency, 0.50),
            "p99": percentile_ms(every_latency, 0.99),
            "max": percentile_ms(every_latency, 1.0),
        },
        "latency_ms_by_kind": {
            name: {
                "requests": len(values),
                "p50": percentile_ms(values, 0.50),
                "p99": percentile_ms(values, 0.99),
            }
            for name, values in sorted(tally.latencies.items())
        },
        "status_counts": {str(status): n for status, n in sorted(tally.statuses.items())},
        "server_errors": server_errors,
        "dropped_connections": dropped,
        "dropped_by_error": dict(tally.dropped),
        "wrong_answers": tally.wrong,
        "wrong_answer_examples": tally.wrong_examples,
        "worker_pids": {"start": pids_at_start, "end": pids_at_end},
        "rss_kib": {
            "after_warmup": {str(pid): kib for pid, kib in rss_start.items()},
            "end": {str(pid): kib for pid, kib in rss_end.items()},
        },
        "rss_growth_pct": {str(pid): pct for pid, pct in growth.items()},
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "cpu_count": os.cpu_count(),
    }
    result["failures"] = failures(result, args.max_rss_growth, growth)
    return result


def failures(
    result: dict[str, Any], max_growth: float, growth: dict[int, float]
) -> list[str]:
    """Every reason the soak fails; empty when it passes."""
    found = []
    if result["server_errors"]:
        found.append(f"{result['server_errors']} responses were 5xx")
    if result["dropped_connections"]:
        found.append(f"{result['dropped_connections']} connections dropped")
    if result["wrong_answers"]:
        found.append(f"{result['wrong_answers']} answers were wrong")
    if result["worker_pids"]["start"] != result["worker_pids"]["end"] or not growth:
        found.append(f"workers changed: {result['worker_pids']}")
    found.extend(
        f"worker {pid} grew {pct}% after the warm-up (limit {max_growth}%)"
        for pid, pct in growth.items()
        if pct >= max_growth
    )
    return found


def report(result: dict[str, Any]) -> str:
    latency = result["latency_ms"]
    lines = [
        f"{result['requests']} requests in {result['seconds']} s on "
        f"{result['connections']} connections, {result['workers']} worker(s), "
        f"{result['backend']} scorer",
        f"after {result['warmup_s']} s warm-up: {result['requests_per_s']} req/s, "
        f"p50 {latency['p50']} ms, p99 {latency['p99']} ms, max {latency['max']} ms",
    ]
    lines += [
        f"  {name:>10}: {kind['requests']} requests, p50 {kind['p50']} ms, "
        f"p99 {kind['p99']} ms"
        for name, kind in result["latency_ms_by_kind"].items()
    ]
    lines += [
        f"statuses {result['status_counts']}; 5xx {result['server_errors']}; "
        f"dropped connections {result['dropped_connections']}; "
        f"wrong answers {result['wrong_answers']}",
        f"worker RSS KiB after warm-up {result['rss_kib']['after_warmup']}, "
        f"at end {result['rss_kib']['end']}, growth % {result['rss_growth_pct']}",
        f"load average at start {result['load_average']['start']}, "
        f"at end {result['load_average']['end']} ({result['cpu_count']} CPUs)",
        "PASSED"
        if not result["failures"]
        else "FAILED: " + "; ".join(result["failures"]),
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument(
        "--warmup", type=float, help="seconds before memory and latency are measured "
        "(default: a tenth of --seconds, at least 10)",
    )  # fmt: skip
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="WEB_CONCURRENCY")
    parser.add_argument("--backend", choices=("onnx", "pipeline"), default="onnx")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request")
    parser.add_argument("--max-rss-growth", type=float, default=10.0, help="percent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = max(10.0, args.seconds / 10)
    if args.warmup + 2 >= args.seconds:
        parser.error("--seconds must exceed --warmup by more than 2 s")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        log_path = Path(scratch) / "server.log"
        with start_server(
            [str(START_SCRIPT)],
            log_path,
            port=port,
            env=service_env(port, args),
            health_path=HEALTH_PATH,
        ) as server:
            result = soak(port, server.process.pid, args)
        if result["failures"]:
            result["server_log_tail"] = server.log_text()[-4000:]
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
