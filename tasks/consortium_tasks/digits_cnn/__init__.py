"""Task ``digits-cnn``: a small CNN on 8x8 grayscale digit images."""
