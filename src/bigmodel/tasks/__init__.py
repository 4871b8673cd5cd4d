"""User-level pipelines shared by the Python API, the CLI and the server."""
