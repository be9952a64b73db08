"""Bitfinex v2: sans-I/O protocol (frames, requests, handlers) and client."""
