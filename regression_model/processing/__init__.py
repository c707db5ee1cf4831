"""Data loading, feature transformers and input validation."""
