"""The registry's tables, their migrations and the functions that bootstrap them."""
