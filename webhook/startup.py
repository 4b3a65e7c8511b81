"""What a serving process does once its apps are built. Imports nothing of Parley.

Python's cyclic garbage collector walks every tracked object in a full collection, and the
runtime holds tens of thousands from start-up (modules, compiled topics and templates, the
engine's tables) that live as long as the process. Each message makes short-lived objects
that bring collections sooner, and every full collection walked those long-lived ones
again: about a sixth of the webhook's extra CPU for Insight's recording was the collector
(bench/README.md). Freezing moves what exists at start-up to the permanent generation,
which collections skip; objects made later are collected as before.
"""

from __future__ import annotations

import gc


def freeze_start_up_objects() -> int:
    """Collect once, then exempt every object alive now from later collections; returns
    how many were frozen. Call it after the apps are built, before serving."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
