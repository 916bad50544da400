"""The HTTP layer: routes parse, authenticate, call a use case, render."""
