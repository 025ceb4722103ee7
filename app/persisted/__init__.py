"""Persisted GraphQL operations: documents a client names by hash instead of sending.

Two kinds share one resolution (operations.py): automatic persisted queries, registered by any
client on first use into a store every process shares (store.py: the database, or Redis), and
trusted documents, a manifest of allowed operations loaded from a file (manifest.py) that can
be made the only documents the service runs. A core module: no web framework, no GraphQL
library; the surface hands it the request's fields and maps its errors.
"""
