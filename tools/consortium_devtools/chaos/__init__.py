"""The chaos soak (``make chaos``): faults injected into a running platform, and the checks
that nothing was lost (:mod:`.soak`)."""
