"""Lava process family; see process.py and models.py."""
