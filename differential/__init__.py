"""Differential testing between released and current model versions."""
