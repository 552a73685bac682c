"""consortium_core."""
