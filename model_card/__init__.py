"""The model card: one HTML page with PNG plots describing the current model version.

``python -m model_card`` (``tox -e report``) writes
``reports/model_card_v<VERSION>/``. It reads the packaged metadata, scores
the held-out rows with the fitted pipeline and runs the differential
comparison's public functions against the last captured release. Report-only
dependencies (matplotlib) live in ``requirements/report.txt``, never in the
service's environment.
"""
