"""build subsystem."""
