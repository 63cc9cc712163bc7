"""tongban (通办): integrated, cross-region government services."""

__version__ = "0.1.0"
