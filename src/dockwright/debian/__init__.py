"""debian subsystem."""
