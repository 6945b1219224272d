"""Loads servekit's native extension (servekit._core) safely beside TensorFlow.

TensorFlow loads its libraries with RTLD_GLOBAL, so their symbols, its own
protobuf among them, come first for every library loaded after them. servekit's
extension uses the system's protobuf and defines messages of the same names
(tensorflow.TensorProto, ...): resolved to TensorFlow's protobuf, registering
them aborts the process. When TensorFlow is already loaded, the extension is
loaded with RTLD_DEEPBIND, which makes it and its own libraries prefer their
own symbols. Otherwise the default flags stay (the sanitizers refuse
RTLD_DEEPBIND).
"""

from __future__ import annotations

import os
import sys


def load_native() -> None:
    if "tensorflow" not in sys.modules or not hasattr(os, "RTLD_DEEPBIND"):
        import servekit._core  # noqa: F401

        return
    flags = sys.getdlopenflags()
    sys.setdlopenflags(os.RTLD_NOW | os.RTLD_LOCAL | os.RTLD_DEEPBIND)
    try:
        import servekit._core  # noqa: F401
    finally:
        sys.setdlopenflags(flags)
