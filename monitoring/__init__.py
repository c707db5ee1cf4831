"""The drift and staleness report: live rows against the model's training snapshot.

Run as ``python -m monitoring`` (``tox -e monitor``), in its own environment
(``requirements/monitor.txt``): scipy, matplotlib and the database drivers
stay out of the serving process.
"""
