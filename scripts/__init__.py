"""Repository tooling: publishing the model wheel and serving it locally."""
