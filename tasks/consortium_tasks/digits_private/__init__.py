"""Task ``digits-private``: digits made for DP-SGD (fixed edge features, a linear classifier)."""
