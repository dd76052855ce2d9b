"""The bottom layer: names, errors, principal, filters, paging, shared enums, clock. Imports nothing of the server."""
