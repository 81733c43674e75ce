"""fs subsystem."""
