"""``recv``: a Lava port's message without the extra passes of ``PyInPortVectorDense.recv``.

lava-nc's dense ``recv`` sums every connected channel into a fresh ``np.zeros(shape, port dtype)``
(``zeros + message``: two more passes over the vector than the channel's own copy). For the common case,
one channel and no virtual-port transform (a reshape or transpose on the connection), the channel's copy is
the sum; it is returned in the dtype lava-nc's sum would have (``result_type(port dtype, message dtype)``).
At paper scale a port carries up to 786,432 values per step (the lowered attention's products), and every
process receives every step.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.model.py.ports import IdentityTransformer


def recv(port) -> np.ndarray:
    """``port.recv()``, the same array values and dtype, with one copy instead of three where it can."""
    csp = getattr(port, "csp_ports", None)
    if csp is None or len(csp) != 1 or not isinstance(getattr(port, "_transformer", None), IdentityTransformer):
        return port.recv()
    data = csp[0].recv()  # a new array (the channel copies out of its shared buffer)
    dtype = np.result_type(port._d_type, data.dtype)
    return data if data.dtype == dtype else data.astype(dtype)
