"""Defaults that more than one layer reads: the settings (settings.py, resources.py) and the code the
settings configure (the throttle, the pricing drop folder)."""

from __future__ import annotations

# QBO ends a request that has run for 120 s (one we gave up on may hold its slot until then); counted
# from when we sent it, so a few seconds more for its way there. QB_REQUEST_LIMIT_SECONDS.
QBO_REQUEST_LIMIT_SECONDS = 125.0

# A pricing file dropped in QB_PRICING_DROP_DIR is taken once it has stood unchanged this long (it may
# still be being written before). QB_PRICING_SETTLE_SECONDS.
SETTLE_SECONDS = 2.0
