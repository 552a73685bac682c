"""Tools to run Consortium on one machine: infrastructure, platform processes, demos."""
