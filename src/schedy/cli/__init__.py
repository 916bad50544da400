"""The ``schedy`` command line."""
