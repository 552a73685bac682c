"""Task ``breast-cancer-logreg``: logistic regression on 30 numeric features."""
