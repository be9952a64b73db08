"""Drop-in replacements for other libraries' clients, on exchange_wss's engine.

- :mod:`exchange_wss.compat.bitfinex_v2`: ``bitfinex-v2``'s ``WssClient``.
"""
