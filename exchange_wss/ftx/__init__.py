"""FTX (and FTX US) WebSocket protocol: sans-I/O protocol and client, for FTX-protocol venues."""
