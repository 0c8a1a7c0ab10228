"""Quiet, offline-safe access to espnet2.

Some espnet modules print at import time (``Failed to import Flash Attention``)
and ``espnet2.train.preprocessor`` pulls g2p/nltk data from the network. Import
espnet2 through :func:`quiet_import` and never import the preprocessor.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import types



def quiet_import(name: str) -> types.ModuleType:
    """Import ``name`` with stdout silenced (espnet prints on some imports)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return importlib.import_module(name)
