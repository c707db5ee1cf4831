"""The API's routers: thin handlers that call the model package."""
