"""The package version (read by pyproject.toml; shown by ``--version``, the About box and the
download User-Agent)."""

__version__ = "0.1.0"
