"""Protobuf mapping of stored rows and values: below the domain and the engine, above the store."""
