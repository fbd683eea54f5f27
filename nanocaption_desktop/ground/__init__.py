"""The ground layer: what every other layer may use and which imports nothing of ours.

errors (the package's exception types), version, paths (the one place that knows frozen paths
and platformdirs), durable (fsync'd renames) and hashing (one SHA-256 helper). Standard library
and platformdirs only. The layers and their rules: docs/architecture.md.
"""
