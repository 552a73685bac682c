"""Task ``fraud-vertical``: a bank and a shop align shared customers by private set intersection
and train a split network on their different columns (vertical federated learning)."""
