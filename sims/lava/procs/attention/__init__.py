"""Lava process family: the spike x spike attention core (DS2TA/Spikformer spatial, STAtten block)."""
