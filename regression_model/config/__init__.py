"""Typed configuration of the model package (see ``core``)."""
