"""This package's Lava Processes, one folder per process family (Lava imports every ``.py`` in a
process's folder when it looks for ProcessModels, so each folder holds one family and nothing else).

Every ProcessModel here is numpy-only: Lava forks one OS process per Process, and torch inside a
forked child deadlocks when the parent already used torch's thread pool.
"""
