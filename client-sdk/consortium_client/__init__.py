"""consortium_client."""
