"""Bundle and params I/O: the only code that touches files."""
