"""The ``healthqa`` command: thin glue over ingest, index and service."""
