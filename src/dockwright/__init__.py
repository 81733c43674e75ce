"""dockwright: trusted application containers built from Debian packages."""

__version__ = "0.1.0"
