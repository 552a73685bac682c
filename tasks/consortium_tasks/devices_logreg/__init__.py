"""Task ``devices-logreg``: cross-device logistic regression on Synthetic(1, 1) devices."""
