"""Use cases of the service: one transaction each, no HTTP, no SQL."""
