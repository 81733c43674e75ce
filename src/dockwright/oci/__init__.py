"""oci subsystem."""
