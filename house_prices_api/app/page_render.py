"""The price page's HTML: the form, and the estimate or the problems of one house.

Plain f-strings, every value from the request or the model passed through
``html.escape``. No inline script or style (the page's Content-Security-Policy
forbids both): styles and the optional script are the files ``app/static``
serves, and the contribution bars are inline SVG geometry, not styles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from app.page_fields import FormField

ASSETS_URL = "/page-assets"
# The most contributions drawn, largest effect first.
MAX_REASONS = 8


@dataclass(frozen=True)
class Estimate:
    """What the model said about the house, as far as the page shows it."""

    price: float | None
    errors: Mapping[str, list[str]] = field(default_factory=dict)
    interval: tuple[float, float] | None = None
    coverage: float | None = None
    base_log_price: float | None = None
    contributions: Sequence[Mapping[str, Any]] = ()
    imputed: Sequence[str] = ()


@dataclass(frozen=True)
class PageContent:
    """Everything the page shows besides the fields themselves."""

    title: str
    api_version: str
    model_version: str | None
    values: Mapping[str, str]
    estimate: Estimate | None = None
    notice: str | None = None
    required: frozenset[str] = frozenset()


def render_page(
    content: PageContent, main: Sequence[FormField], rest: Sequence[FormField]
) -> str:
    """The whole page: the result region (empty before a query) and the form."""
    title = escape(content.title)
    model = escape(content.model_version or "not loaded")
    errors = content.estimate.errors if content.estimate else {}
    rest_open = " open" if any(f.name in errors for f in rest) else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: what would this house sell for?</title>
<link rel="stylesheet" href="{ASSETS_URL}/page.css">
<script src="{ASSETS_URL}/page.js" defer></script>
</head>
<body>
<header class="banner">
<h1>What would this house sell for?</h1>
<p>An estimate from sales in Ames, Iowa, 2006 to 2010. The form starts with a
typical house: change what differs from yours.</p>
</header>
<main class="layout">
<section id="result" class="result" aria-live="polite" aria-labelledby="result-heading">
{_result(content, main, rest)}
</section>
<form id="price-form" class="form" method="get" action="/" novalidate>
<h2>The house</h2>
<div class="fields">
{_fields(main, content, errors)}
</div>
<details{rest_open}>
<summary>More details</summary>
<p class="hint">Optional: a field left empty gets a typical value.</p>
<div class="fields">
{_fields(rest, content, errors)}
</div>
</details>
<div class="actions">
<button type="submit">Estimate the price</button>
<a href="/">Start again from the typical house</a>
</div>
</form>
</main>
<footer class="footer">
<p>{title}: API version {escape(content.api_version)}, model version {model}.
<a href="/docs">API docs</a> (<code>POST /api/v1/predict</code>) &middot;
<a href="/api/v1/health">Health check</a></p>
</footer>
</body>
</html>
"""


def _result(
    content: PageContent, main: Sequence[FormField], rest: Sequence[FormField]
) -> str:
    heading = '<h2 id="result-heading">Estimate</h2>'
    if content.notice is not None:
        return f'{heading}\n<p class="notice">{escape(content.notice)}</p>'
    estimate = content.estimate
    if estimate is None:
        return f'{heading}\n<p>Fill in the form and choose "Estimate the price".</p>'
    if estimate.price is None:
        return f"{heading}\n{_problems(estimate.errors, [*main, *rest])}"
    parts = [
        heading,
        f'<p class="price"><data id="price" value="{estimate.price!r}">'
        f"{_dollars(estimate.price)}</data></p>",
    ]
    if estimate.interval is not None:
        low, high = estimate.interval
        share = f"{estimate.coverage:.0%} of" if estimate.coverage else "Most"
        parts.append(
            f'<p id="interval">{share} houses like this one would sell for between '
            f'<data value="{low!r}">{_dollars(low)}</data> and '
            f'<data value="{high!r}">{_dollars(high)}</data>.</p>'
        )
    if estimate.contributions:
        parts.append(_reasons(estimate, {f.name: f.label for f in (*main, *rest)}))
    if estimate.imputed:
        names = ", ".join(escape(name) for name in estimate.imputed)
        parts.append(
            f'<p class="hint">Not given, so a typical value was used: {names}.</p>'
        )
    parts.append(
        '<p class="hint">The address of this page keeps your answers: share it.</p>'
    )
    return "\n".join(parts)


def _problems(errors: Mapping[str, list[str]], fields: Sequence[FormField]) -> str:
    """An error summary whose entries link to the fields they are about."""
    labels = {f.name: f.label for f in fields}
    items = []
    for name, messages in errors.items():
        for message in messages:
            text = f"{escape(labels.get(name, name))}: {escape(message)}"
            if name in labels:
                text = f'<a href="#{_input_id(name)}">{text}</a>'
            items.append(f"<li>{text}</li>")
    return (
        '<div class="problems" id="problems">\n'
        "<p><strong>No price: the house needs a few changes.</strong></p>\n"
        f"<ul>{''.join(items)}</ul>\n</div>"
    )


def _reasons(estimate: Estimate, labels: Mapping[str, str]) -> str:
    """The largest contributions as a diverging bar chart; the text carries the data."""
    ranked = sorted(
        estimate.contributions,
        key=lambda item: abs(float(item["log_contribution"])),
        reverse=True,
    )[:MAX_REASONS]
    scale = max(abs(float(item["log_contribution"])) for item in ranked) or 1.0
    rows = []
    for item in ranked:
        effect = float(item["log_contribution"])
        factor = float(item.get("factor", math.exp(effect)))
        width = abs(effect) / scale * 100
        x = 0 if effect >= 0 else -width
        tone = "up" if effect >= 0 else "down"
        feature = escape(labels.get(str(item["feature"]), str(item["feature"])))
        rows.append(
            f'<li class="reason"><span class="feature">{feature}'
            f'</span><svg class="bar" viewBox="-100 0 200 10" preserveAspectRatio="none" '
            f'aria-hidden="true" focusable="false"><line x1="0" y1="0" x2="0" y2="10" '
            f'class="axis"/><rect class="{tone}" x="{x:.2f}" y="1" width="{width:.2f}" '
            f'height="8"/></svg><span class="factor">{_percent(factor)}</span></li>'
        )
    base = ""
    if estimate.base_log_price is not None:
        base = (
            f" compared with a baseline of {_dollars(math.exp(estimate.base_log_price))}"
        )
    return (
        '<h3 id="reasons-heading">Main reasons</h3>\n'
        f'<p class="hint">How much each feature moves the price{base}.</p>\n'
        f'<ul class="reasons" aria-labelledby="reasons-heading">{"".join(rows)}</ul>'
    )


def _fields(
    fields: Sequence[FormField], content: PageContent, errors: Mapping[str, list[str]]
) -> str:
    return "\n".join(
        _field(f, content.values.get(f.name, ""), errors.get(f.name, []), content)
        for f in fields
    )


def _field(f: FormField, value: str, messages: list[str], content: PageContent) -> str:
    """A labelled control with its hint and, when the model refused it, its message."""
    input_id = _input_id(f.name)
    described = []
    hint = ""
    if f.hint:
        hint = f'<p class="hint" id="{input_id}-hint">{escape(f.hint)}</p>'
        described.append(f"{input_id}-hint")
    error = ""
    if messages:
        text = " ".join(escape(message) for message in messages)
        error = f'<p class="error" id="{input_id}-error">{text}</p>'
        described.append(f"{input_id}-error")
    required = f.name in content.required
    attributes = f'id="{input_id}" name="{escape(f.name)}"'
    if described:
        attributes += f' aria-describedby="{" ".join(described)}"'
    if messages:
        attributes += ' aria-invalid="true"'
    if required:
        attributes += ' aria-required="true"'
    marker = ' <span class="required">(required)</span>' if required else ""
    label = f'<label for="{input_id}">{escape(f.label)}{marker}</label>'
    control = (
        _select(f, value, attributes)
        if f.kind == "select"
        else _number(f, value, attributes)
    )
    state = " invalid" if messages else ""
    return f'<div class="field{state}">{label}{hint}{error}{control}</div>'


def _select(f: FormField, value: str, attributes: str) -> str:
    codes = [code for code, _ in f.options]
    options = ['<option value="">Not given</option>']
    if value and value not in codes:
        options.append(
            f'<option value="{escape(value)}" selected>{escape(value)}</option>'
        )
    options.extend(
        f'<option value="{escape(code)}"{" selected" if code == value else ""}>'
        f"{escape(text)}</option>"
        for code, text in f.options
    )
    return f"<select {attributes}>{''.join(options)}</select>"


def _number(f: FormField, value: str, attributes: str) -> str:
    limits = ""
    if f.minimum is not None:
        limits += f' min="{_plain(f.minimum)}"'
    if f.maximum is not None:
        limits += f' max="{_plain(f.maximum)}"'
    step = "1" if f.integer else "any"
    mode = "numeric" if f.integer else "decimal"
    return (
        f'<input type="number" inputmode="{mode}" step="{step}"{limits} '
        f'{attributes} value="{escape(value)}">'
    )


def _plain(number: float) -> str:
    """A limit as HTML writes a number: 10000000, not 1e+07."""
    return str(int(number)) if float(number).is_integer() else repr(number)


def _input_id(name: str) -> str:
    return f"field-{escape(name)}"


def _dollars(amount: float) -> str:
    return f"${amount:,.0f}"


def _percent(factor: float) -> str:
    change = (factor - 1) * 100
    return f"{'+' if change >= 0 else '&minus;'}{abs(change):.0f}%"
