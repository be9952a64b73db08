"""Binance (Spot, margin, USDT-M and COIN-M futures): sans-I/O protocol and client."""
