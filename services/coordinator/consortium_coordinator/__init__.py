"""consortium_coordinator."""
