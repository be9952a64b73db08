"""exchange_wss: threaded, callback-driven WebSocket clients for crypto exchanges."""
