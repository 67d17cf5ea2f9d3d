"""Lava process family; see models.py."""
