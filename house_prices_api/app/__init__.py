"""The house-price prediction service: one FastAPI app serving one pinned model wheel.

The API has its own version, separate from the model's: the contract of the
endpoints can change without a new model, and a new model can ship without
changing the contract. ``/api/v1/health`` reports both.
"""

__version__ = "0.1.0"
