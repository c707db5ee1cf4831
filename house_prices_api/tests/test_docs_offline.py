"""/docs and /redoc work with no internet: their assets come from the service itself.

A real server (bin/start) and Debian's headless Chromium: Swagger UI lists
the operations and its "Try it out" prices the example house as the API
does; ReDoc renders; and the browser requests nothing beyond 127.0.0.1.
"""

from __future__ import annotations

import json

import pytest
from browser import off_loopback, requested_urls
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from servers import RunningServer, api_price, call

from regression_model import EXAMPLE_HOUSE

pytestmark = pytest.mark.process

WAIT_S = 30
# Swagger UI's element for POST /api/v1/predict (tag, then operation id).
PREDICT = "#operations-prediction-predict_api_v1_predict_post"


def test_swagger_ui_lists_the_operations_and_try_it_out_prices_the_example(
    default_server: RunningServer, browser: Chrome
) -> None:
    # Given the docs page of a running service
    browser.get(f"{default_server.base_url}/docs")
    wait = WebDriverWait(browser, WAIT_S)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    paths = [
        element.text
        for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    ]

    # When a user opens POST /api/v1/predict, clicks "Try it out", then "Execute"
    predict = browser.find_element(By.CSS_SELECTOR, PREDICT)
    predict.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(
        ec.element_to_be_clickable(
            (
                By.CSS_SELECTOR,
                f"{PREDICT} .try-out__btn",
            )
        )
    ).click()
    wait.until(
        ec.element_to_be_clickable(
            (
                By.CSS_SELECTOR,
                f"{PREDICT} .execute",
            )
        )
    ).click()
    body = wait.until(
        ec.visibility_of_element_located(
            (
                By.CSS_SELECTOR,
                f"{PREDICT} .live-responses-table .response-col_description pre",
            )
        )
    )
    shown = json.loads(body.text)

    # Then every operation is listed and the response box holds the API's price
    assert "/api/v1/predict" in paths
    assert "/api/v1/health" in paths
    assert shown["predictions"] == [api_price(default_server, EXAMPLE_HOUSE)]
    assert off_loopback(requested_urls(browser)) == []


def test_redoc_renders_the_operations(
    default_server: RunningServer, browser: Chrome
) -> None:
    # Given the ReDoc page of a running service
    # When the browser loads it
    browser.get(f"{default_server.base_url}/redoc")

    # Then ReDoc draws the API's operations, with nothing fetched from elsewhere
    WebDriverWait(browser, WAIT_S).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, "body"), "/api/v1/predict")
    )
    assert "House prices API" in browser.find_element(By.TAG_NAME, "h1").text
    assert off_loopback(requested_urls(browser)) == []


def test_docs_pages_allow_no_other_origin(default_server: RunningServer) -> None:
    # Given the running service
    connection = default_server.connect()

    # When the docs pages and one of their assets are fetched
    answers = {
        path: call(connection, "GET", path)
        for path in ("/docs", "/redoc", "/docs-assets/swagger-ui-bundle.js")
    }
    missing, _, _ = call(connection, "GET", "/docs-assets/../config.py")
    connection.close()

    # Then each is served with a policy that keeps the page on this origin
    for status, headers, _ in answers.values():
        assert status == 200
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
    assert "cdn" not in str(answers["/docs"][2]).lower()
    assert missing == 404
