"""net subsystem."""
