"""Public helpers for users: client order ids and Bitfinex symbols.

``from exchange_wss import utils; utils.cid_to_date(cid)``.
"""

from __future__ import annotations

from .bitfinex.utils import cid_to_date, create_cid, order_symbol

__all__ = ["cid_to_date", "create_cid", "order_symbol"]
