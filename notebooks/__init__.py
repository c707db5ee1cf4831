"""The research notebooks (jupytext percent-format ``.py`` files) and their runner."""
