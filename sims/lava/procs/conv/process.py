"""This family adds no Process: it holds a numpy ProcessModel for lava-nc's own ``Conv``."""

from lava.proc.conv.process import Conv  # noqa: F401  (the Process the model implements)
