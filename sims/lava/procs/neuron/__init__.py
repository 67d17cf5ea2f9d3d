"""Lava process family; see models.py (faster models for lava-nc's neurons; no Process of its own)."""
