"""Trio actors around the pure core: each owns its state and talks through the network."""
