"""The ``hpcflow`` command: a thin shell over the library."""
