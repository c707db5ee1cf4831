"""Metrics, the prediction log and feedback, in process (one app, its own registry).

The real servers (several workers, PostgreSQL, SIGTERM) are in
``test_prediction_log.py``; here the app is built with ``create_app`` and
its log writer (a thread here) is flushed before anything is read back.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from app.config import Settings
from app.log_store import LogWriter, database_url, make_engine, predictions
from app.metrics import model_age_start
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from sqlalchemy import DateTime, Select, select

from regression_model.processing.schema import EXAMPLE_HOUSE

PREDICT = "/api/v1/predict"
FEEDBACK = "/api/v1/feedback"
JSON = {"Content-Type": "application/json"}
API_KEY = "monitoring-key-5d2c81f0a3"
TOKEN = "scrape-token-0b9e47c2d1"
UNSEEN_BY_TRAINING = {**EXAMPLE_HOUSE, "ExterQual": "Po"}  # allowed, never in train.csv
WITH_GAPS = {**EXAMPLE_HOUSE, "TotalBsmtSF": None, "BsmtExposure": None}
BAD = {**EXAMPLE_HOUSE, "OverallQual": 11, "Neighborhood": "Atlantis"}


def scrape(
    client: TestClient, **headers: str
) -> dict[tuple[str, tuple[Any, ...]], float]:
    """The app's /metrics as {(sample name, sorted labels): value}, after a flush."""
    client.app.state.recorder.flush(5)  # type: ignore[attr-defined]
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_a_batch_is_counted_by_outcome_field_and_label(client: TestClient) -> None:
    # Given a batch of a clean row, a row with gaps, a row with a label training
    # never saw, and a row with two bad fields
    rows = [EXAMPLE_HOUSE, WITH_GAPS, UNSEEN_BY_TRAINING, BAD]
    # When it is priced and the metrics are scraped
    response = client.post(PREDICT, json={"inputs": rows})
    metrics = scrape(client)
    # Then three rows are priced and one refused, each error and gap is counted
    # by its field, the unseen label by its field, and every price is observed
    assert response.status_code == 200
    assert metrics[("house_prices_rows_total", (("outcome", "priced"),))] == 3
    assert metrics[("house_prices_rows_total", (("outcome", "refused"),))] == 1
    assert metrics[("house_prices_row_errors_total", (("field", "OverallQual"),))] == 1
    assert metrics[("house_prices_row_errors_total", (("field", "Neighborhood"),))] == 1
    assert (
        metrics[("house_prices_imputed_values_total", (("field", "TotalBsmtSF"),))] == 1
    )
    assert metrics[("house_prices_unseen_labels_total", (("field", "ExterQual"),))] == 1
    assert metrics[("house_prices_predicted_price_dollars_count", ())] == 3
    request = (("method", "POST"), ("route", PREDICT), ("status", "200"))
    assert metrics[("house_prices_requests_total", request)] == 1
    assert (
        metrics[
            (
                "house_prices_model_info",
                (("backend", "onnx"), ("version", response.json()["version"])),
            )
        ]
        == 1
    )
    assert metrics[("house_prices_model_age_seconds", ())] > 0


def test_route_labels_are_templates_and_methods_are_bounded(client: TestClient) -> None:
    # Given requests to an included router's route, an unknown path and an odd method
    client.get("/api/v1/health")
    client.get("/no/such/path/12345")
    client.request("BREW", "/api/v1/health")
    # When the metrics are scraped
    metrics = scrape(client)
    routes = {
        dict(labels)["route"]
        for name, labels in metrics
        if name == "house_prices_requests_total"
    }
    methods = {
        dict(labels)["method"]
        for name, labels in metrics
        if name == "house_prices_requests_total"
    }
    # Then the health route carries its full template, the unknown path no path
    assert "/api/v1/health" in routes
    assert "unmatched" in routes
    assert not any("12345" in route for route in routes)
    assert methods <= {"GET", "POST", "other"}


def test_metrics_off_removes_the_route(make_client: Callable[..., TestClient]) -> None:
    # Given METRICS=false and the log off
    client = make_client(metrics=False, prediction_log="off")
    # When a prediction is made and /metrics asked for
    priced = client.post(PREDICT, json={"inputs": [EXAMPLE_HOUSE]})
    # Then the prediction is served, /metrics does not exist and nothing records
    assert priced.status_code == 200
    assert client.get("/metrics").status_code == 404
    assert client.app.state.recorder is None  # type: ignore[attr-defined]


def test_with_api_keys_metrics_need_their_own_token(
    make_client: Callable[..., TestClient],
) -> None:
    # Given API keys and a metrics token
    client = make_client(api_keys=[API_KEY], metrics_token=TOKEN)
    # When /metrics is scraped without a token, with an API key, and with the token
    bare = client.get("/metrics")
    with_key = client.get(
        "/metrics", headers={"X-API-Key": API_KEY, "Authorization": f"Bearer {API_KEY}"}
    )
    with_token = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    # Then only the token opens it
    assert bare.status_code == 401
    assert with_key.status_code == 401
    assert with_token.status_code == 200
    assert "house_prices_requests_total" in with_token.text


def test_with_api_keys_and_no_token_metrics_stay_closed(
    make_client: Callable[..., TestClient],
) -> None:
    # Given API keys and no METRICS_TOKEN
    client = make_client(api_keys=[API_KEY])
    # When /metrics is scraped, even with a bearer
    response = client.get("/metrics", headers={"Authorization": "Bearer anything"})
    # Then it is refused, saying why
    assert response.status_code == 403
    assert "METRICS_TOKEN" in response.json()["detail"]


def query_log(client: TestClient, statement: Select[Any]) -> list[Any]:
    """The rows ``statement`` selects from the app's prediction log."""
    settings = client.app.state.settings  # type: ignore[attr-defined]
    engine = make_engine(database_url(settings))
    try:
        with engine.connect() as connection:
            return list(connection.execute(statement).all())
    finally:
        engine.dispose()


def test_every_row_is_logged_as_answered(client: TestClient) -> None:
    # Given a mixed batch with a client request id and a field the schema does not know
    rows = [{**WITH_GAPS, "ClientSecret": "x"}, BAD, "not a row"]
    # When it is priced and the writer flushed
    response = client.post(
        PREDICT, json={"inputs": rows}, headers={"X-Request-ID": "log-mixed-1"}
    )
    client.app.state.recorder.flush(5)  # type: ignore[attr-defined]
    logged = query_log(
        client,
        select(predictions)
        .where(predictions.c.request_id == "log-mixed-1")
        .order_by(predictions.c.row),
    )
    # Then there is one line per row, in order, with its price, errors and gaps,
    # the features as sent minus unknown keys, and the model version
    body = response.json()
    assert [line.row for line in logged] == [0, 1, 2]
    assert [line.price for line in logged] == body["predictions"]
    assert logged[0].features == WITH_GAPS
    assert logged[0].imputed == body["imputed"][0]["fields"]
    assert logged[2].features is None
    for line in logged:
        expected = [
            {"field": error["field"], "message": error["message"]}
            for error in body["errors"]
            if error["row"] == line.row
        ]
        assert (line.errors or []) == expected
        assert line.model_version == body["version"]


def test_feedback_stores_the_truth_and_feeds_the_live_rmsle(client: TestClient) -> None:
    # Given a priced house (reported right away: the writer may not have written it)
    priced = client.post(
        PREDICT, json={"inputs": [EXAMPLE_HOUSE]}, headers={"X-Request-ID": "feedback-1"}
    )
    price = priced.json()["predictions"][0]
    # When its sale price is reported
    response = client.post(
        FEEDBACK,
        json={
            "request_id": "feedback-1",
            "row": 0,
            "sale_price": 189_000,
            "sale_date": "2026-11-30",
        },
    )
    metrics = scrape(client)
    # Then the prediction is returned and the squared log error is added up
    assert response.status_code == 200, response.text
    assert response.json()["predicted"] == [price]
    version = (("model_version", priced.json()["version"]),)
    assert metrics[("house_prices_feedback_total", version)] == 1
    expected = (math.log1p(price) - math.log1p(189_000)) ** 2
    assert metrics[
        ("house_prices_feedback_squared_log_error_total", version)
    ] == pytest.approx(expected)


def test_feedback_for_an_unknown_prediction_is_404(client: TestClient) -> None:
    # Given a logged request of one row
    client.post(
        PREDICT, json={"inputs": [EXAMPLE_HOUSE]}, headers={"X-Request-ID": "feedback-2"}
    )
    # When truth is reported for another id, and for a row it did not have
    unknown_id = client.post(
        FEEDBACK, json={"request_id": "never-sent", "row": 0, "sale_price": 1e5}
    )
    unknown_row = client.post(
        FEEDBACK, json={"request_id": "feedback-2", "row": 1, "sale_price": 1e5}
    )
    # Then both are 404s naming what was asked for
    assert unknown_id.status_code == 404
    assert "never-sent" in unknown_id.json()["detail"]
    assert unknown_row.status_code == 404


@pytest.mark.parametrize(
    "sale_price",
    ["0", "-5", '"189000"', "null", "true", "1e309"],
    ids=["zero", "negative", "text", "null", "bool", "overflow"],
)
def test_a_bad_sale_price_is_422(client: TestClient, sale_price: str) -> None:
    # Given a logged prediction
    client.post(
        PREDICT, json={"inputs": [EXAMPLE_HOUSE]}, headers={"X-Request-ID": "feedback-3"}
    )
    # When a price that is not a positive finite number is reported
    body = f'{{"request_id": "feedback-3", "row": 0, "sale_price": {sale_price}}}'
    response = client.post(FEEDBACK, content=body, headers=JSON)
    # Then it is refused, naming the field
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "sale_price"]


def test_a_nan_sale_price_is_422(client: TestClient) -> None:
    # When NaN is sent as a price (Python's JSON extension)
    response = client.post(
        FEEDBACK,
        content=b'{"request_id": "x", "row": 0, "sale_price": NaN}',
        headers=JSON,
    )
    # Then it is a client error, not a stored price
    assert response.status_code == 422


def test_feedback_needs_an_api_key_when_keys_are_set(
    make_client: Callable[..., TestClient],
) -> None:
    # Given API keys
    client = make_client(api_keys=[API_KEY])
    # When feedback is sent without a key
    response = client.post(
        FEEDBACK, json={"request_id": "x", "row": 0, "sale_price": 1e5}
    )
    # Then it is refused like a prediction would be
    assert response.status_code == 401


def test_with_the_log_off_nothing_is_written_and_feedback_says_so(
    make_client: Callable[..., TestClient],
) -> None:
    # Given PREDICTION_LOG=off
    client = make_client(prediction_log="off")
    # When a prediction is made and its truth reported
    client.post(
        PREDICT, json={"inputs": [EXAMPLE_HOUSE]}, headers={"X-Request-ID": "off-1"}
    )
    response = client.post(
        FEEDBACK, json={"request_id": "off-1", "row": 0, "sale_price": 1e5}
    )
    metrics = scrape(client)
    # Then no row is written and feedback explains that the log is off
    assert response.status_code == 503
    assert "PREDICTION_LOG" in response.json()["detail"]
    assert metrics[("house_prices_prediction_log_written_rows_total", ())] == 0


def test_a_sampled_log_keeps_some_batches_and_counts_every_row(
    make_client: Callable[..., TestClient],
) -> None:
    # Given PREDICTION_LOG=0.5
    client = make_client(prediction_log="0.5")
    # When 60 one-row batches are priced
    for index in range(60):
        client.post(
            PREDICT,
            json={"inputs": [EXAMPLE_HOUSE]},
            headers={"X-Request-ID": f"sampled-{index}"},
        )
    metrics = scrape(client)
    logged = query_log(
        client,
        select(predictions.c.request_id).where(
            predictions.c.request_id.startswith("sampled-")
        ),
    )
    # Then every row is in the metrics, and only part of them in the log (all
    # or none of 60 has a chance of 2 in 2**60)
    assert metrics[("house_prices_rows_total", (("outcome", "priced"),))] == 60
    assert 0 < len(logged) < 60
    written = metrics[("house_prices_prediction_log_written_rows_total", ())]
    assert written == len(logged)


@pytest.mark.parametrize(
    ("value", "rate"), [("all", 1.0), ("off", 0.0), ("0.25", 0.25), (" OFF ", 0.0)]
)
def test_prediction_log_takes_all_off_or_a_rate(value: str, rate: float) -> None:
    assert Settings(prediction_log=value).prediction_log == rate  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["1.5", "-0.1", "sometimes"])
def test_prediction_log_refuses_anything_else(value: str) -> None:
    with pytest.raises(ValidationError, match="prediction_log"):
        Settings(prediction_log=value)  # type: ignore[arg-type]


def test_model_age_runs_from_the_source_commit_time_when_recorded(
    client: TestClient,
) -> None:
    # Given the served model, once as recorded and once with a commit time
    model = client.app.state.served_model  # type: ignore[attr-defined]
    data_end = datetime(2010, 8, 1, tzinfo=UTC)
    committed = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    trained_with = model.metadata.trained_with.model_copy(
        update={"source_commit_time": committed}
    )
    stamped = replace(
        model, metadata=model.metadata.model_copy(update={"trained_with": trained_with})
    )
    unstamped = replace(
        model,
        metadata=model.metadata.model_copy(
            update={
                "trained_with": trained_with.model_copy(
                    update={"source_commit_time": None}
                )
            }
        ),
    )
    # When the age's start is chosen for each
    # Then the commit time wins; without it the newest training sale is used
    assert model_age_start(stamped, data_end) == committed
    assert model_age_start(unstamped, data_end) == data_end


def test_unseen_labels_are_counted_every_time_however_they_are_written(
    client: TestClient,
) -> None:
    # Given an allowed label training never saw, sent again and in other case and
    # blanks, and a label training saw, sent twice
    unseen_again = {**EXAMPLE_HOUSE, "ExterQual": " PO "}
    first = client.post(PREDICT, json={"inputs": [UNSEEN_BY_TRAINING, EXAMPLE_HOUSE]})
    second = client.post(
        PREDICT, json={"inputs": [UNSEEN_BY_TRAINING, unseen_again, EXAMPLE_HOUSE]}
    )
    # When the metrics are scraped
    metrics = scrape(client)
    # Then every priced row with the unseen label counts once, and the seen one never
    assert first.status_code == second.status_code == 200
    assert None not in first.json()["predictions"] + second.json()["predictions"]
    assert metrics[("house_prices_unseen_labels_total", (("field", "ExterQual"),))] == 3
    assert (
        "house_prices_unseen_labels_total",
        (("field", "Neighborhood"),),
    ) not in metrics


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 6, 15, 14, 17, 123456, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_sqlite_times_are_written_as_sqlalchemy_writes_them(
    tmp_path: Path, moment: datetime
) -> None:
    # Given the SQLite log's writer and SQLAlchemy's own DateTime for that dialect
    engine = make_engine(f"sqlite:///{tmp_path / 'log.sqlite3'}")
    dialect = engine.dialect
    sqlalchemy_text = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert sqlalchemy_text is not None
    # When a time is turned into the text the log stores
    # Then it is the text SQLAlchemy writes, so its reads and comparisons parse it
    assert LogWriter(engine).timestamp_text(moment) == sqlalchemy_text(
        moment.replace(tzinfo=None)
    )
