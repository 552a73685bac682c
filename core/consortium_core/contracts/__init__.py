"""Versioned message contracts shared by the services and the client SDK."""
