"""GET /, the price page, in process: form, estimate, problems, headers."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from app.api.home import estimate_of
from app.page_fields import MAIN_FEATURES, form_fields
from app.page_render import PageContent, render_page
from fastapi.testclient import TestClient

from regression_model import EXAMPLE_HOUSE, HouseFeatures


class Elements(HTMLParser):
    """Elements by id (tag, attributes), the labels' targets, each select's choice."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.by_id: dict[str, tuple[str, dict[str, str | None]]] = {}
        self.labelled: set[str] = set()
        self.selected: dict[str, str] = {}
        self._select: str | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if "id" in named:
            self.by_id[str(named["id"])] = (tag, named)
        if tag == "label":
            self.labelled.add(str(named["for"]))
        if tag == "select":
            self._select = str(named["name"])
        if tag == "option" and "selected" in named and self._select:
            self.selected[self._select] = str(named["value"])


def query_of(row: dict[str, Any]) -> dict[str, str]:
    return {name: "" if value is None else str(value) for name, value in row.items()}


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*>([^<]*)<', page)
    assert match, f"no element {element_id}"
    return match.group(1)


def api_price(client: TestClient, row: dict[str, Any]) -> float:
    response = client.post("/api/v1/predict", json={"inputs": [row]})
    assert response.status_code == 200
    return float(response.json()["predictions"][0])


def test_the_page_asks_for_the_main_features_prefilled_with_the_example_house(
    client: TestClient,
) -> None:
    # When the page is opened without a query
    response = client.get("/")
    page = Elements(response.text)

    # Then each main feature is a labelled control holding the example's value
    main, rest = form_fields()
    assert [f.name for f in main] == [
        name
        for name in MAIN_FEATURES
        if name in HouseFeatures.model_json_schema()["properties"]
    ]
    assert len(main) == 12
    for field in (*main, *rest):
        input_id = f"field-{field.name}"
        assert input_id in page.labelled
        tag, attributes = page.by_id[input_id]
        expected = str(EXAMPLE_HOUSE[field.name])
        if tag == "select":
            assert page.selected[field.name] == expected
        else:
            assert attributes["value"] == expected
    # and every other field waits under "More details", with no estimate yet
    assert response.status_code == 200
    assert "<summary>More details</summary>" in response.text
    assert response.text.index("<details") < response.text.index('id="field-MSSubClass"')
    assert "price" not in page.by_id
    assert 'aria-live="polite"' in response.text


def test_a_query_shows_the_price_the_api_gives_for_the_same_row(
    client: TestClient,
) -> None:
    # Given the example house with a bigger living area in another neighbourhood
    row = {**EXAMPLE_HOUSE, "GrLivArea": 2100, "Neighborhood": "CollgCr"}

    # When the page is asked for it, as the form submits it
    response = client.get("/", params=query_of(row))

    # Then it shows the API's price, exactly, and keeps the answers in the form
    page = Elements(response.text)
    assert response.status_code == 200
    assert float(str(page.by_id["price"][1]["value"])) == api_price(client, row)
    assert page.by_id["field-GrLivArea"][1]["value"] == "2100"
    assert page.selected["Neighborhood"] == "CollgCr"


def test_a_field_left_empty_is_imputed_and_named(client: TestClient) -> None:
    # Given the example house without its garage area
    row = {**EXAMPLE_HOUSE, "GarageArea": None}

    # When it is priced on the page
    response = client.get("/", params=query_of(row))

    # Then the price is the API's and the page says which value it filled in
    assert float(str(Elements(response.text).by_id["price"][1]["value"])) == api_price(
        client, row
    )
    assert "a typical value was used: GarageArea." in response.text


def test_an_invalid_value_is_explained_beside_its_field(client: TestClient) -> None:
    # Given a quality above the scale
    row = query_of({**EXAMPLE_HOUSE, "OverallQual": 11})

    # When the page is asked for it
    response = client.get("/", params=row)

    # Then the page (200, not 500) names the problem beside the field and gives no price
    page = Elements(response.text)
    assert response.status_code == 200
    assert "less than or equal to 10" in text_of(response.text, "field-OverallQual-error")
    _, control = page.by_id["field-OverallQual"]
    assert control["aria-invalid"] == "true"
    assert control["aria-describedby"] == "field-OverallQual-error"
    assert control["value"] == "11"
    assert "price" not in page.by_id
    assert 'href="#field-OverallQual"' in response.text


def test_a_problem_in_more_details_opens_them(client: TestClient) -> None:
    response = client.get("/", params=query_of({**EXAMPLE_HOUSE, "YrSold": "soon"}))

    assert "<details open>" in response.text
    assert "valid integer" in text_of(response.text, "field-YrSold-error")


def test_hostile_values_come_back_escaped(client: TestClient) -> None:
    # Given markup in a label and in a number
    attack = "<script>alert(1)</script>"
    row = query_of({**EXAMPLE_HOUSE, "Neighborhood": attack, "GrLivArea": '"><b>x'})

    # When the page shows them back
    response = client.get("/", params=row)

    # Then they are text, never markup
    assert response.status_code == 200
    assert attack not in response.text
    assert '"><b>x' not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert Elements(response.text).selected["Neighborhood"] == attack


def test_the_page_and_its_assets_carry_the_security_headers(client: TestClient) -> None:
    # When the page, a priced page and its assets are fetched
    answers = [
        client.get("/"),
        client.get("/", params=query_of(EXAMPLE_HOUSE)),
        client.get("/page-assets/page.css"),
        client.get("/page-assets/page.js"),
    ]

    # Then each keeps to this origin, with no inline code allowed or used
    for response in answers:
        assert response.status_code == 200
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    page = answers[1].text
    assert re.findall(r"<script[^>]*>", page) == [
        '<script src="/page-assets/page.js" defer>'
    ]
    assert " style=" not in page
    assert "<style" not in page
    assert answers[2].headers["content-type"].startswith("text/css")
    assert answers[3].headers["content-type"].startswith("text/javascript")
    assert client.get("/page-assets/../config.py").status_code == 404
    assert client.get("/page-assets/app.py").status_code == 404


def test_with_api_keys_the_page_does_not_price(
    make_client: Callable[..., TestClient],
) -> None:
    # Given a service whose predictions need a key
    keyed = make_client(api_keys=["k" * 32])

    # When the page is asked for a price
    response = keyed.get("/", params=query_of(EXAMPLE_HOUSE))

    # Then it refuses, saying why, instead of pricing around the key
    assert response.status_code == 403
    assert "requires an API key" in response.text
    assert 'id="price"' not in response.text


@pytest.mark.parametrize("coverage", [0.9, None])
def test_intervals_and_contributions_are_drawn_when_the_result_has_them(
    coverage: float | None,
) -> None:
    # Given a result carrying an interval and an explanation (the planned contract)
    contributions = [
        {"feature": "GrLivArea", "log_contribution": 0.2, "factor": math.exp(0.2)},
        {"feature": "OverallQual", "log_contribution": -0.1, "factor": math.exp(-0.1)},
        {"feature": "<i>x</i>", "log_contribution": 0.01, "factor": math.exp(0.01)},
    ]
    result = {
        "predictions": [200_000.0],
        "version": "0",
        "errors": [],
        "imputed": [],
        "intervals": [[170_000.0, 230_000.0]],
        "interval_coverage": coverage,
        "explanations": [
            {
                "row": 0,
                "base_log_price": math.log(180_000),
                "contributions": contributions,
            }
        ],
    }

    # When the page renders it
    main, rest = form_fields()
    content = PageContent(
        title="t", api_version="1", model_version="0", values={},
        estimate=estimate_of(result),
    )  # fmt: skip
    page = render_page(content, main, rest)

    # Then it shows the interval and one bar per contribution, largest first
    share = "90% of houses" if coverage else "Most houses"
    assert f"{share} like this one would sell for between" in page
    assert "$170,000</data> and" in page
    assert "$230,000</data>" in page
    assert "baseline of $180,000" in page
    assert page.count('<li class="reason">') == 3
    assert page.index("Living area (sq ft)</span>") < page.index("Overall quality")
    assert "+22%" in page
    assert "&minus;10%" in page
    assert "&lt;i&gt;x&lt;/i&gt;" in page
