"""The coordinator's tables and the functions that read and write them."""
