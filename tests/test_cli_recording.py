"""``exchange-wss record``, ``replay`` and ``relay``: the commands end to end, in-process."""

from __future__ import annotations

import argparse
import os

from exchange_wss import cli
from exchange_wss.recording import open_recording
from exchange_wss.recording.commands import register_record, register_replay
from exchange_wss.redis.commands import register_relay

HERE = os.path.dirname(os.path.abspath(__file__))


def run(*argv: str) -> int:
    """Parse with the subcommands registered on a parser of our own, as cli does, and run."""
    parser = argparse.ArgumentParser(prog="exchange-wss")
    sub = parser.add_subparsers(dest="command")
    for register in (register_record, register_replay, register_relay):
        register(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_the_commands_are_on_the_exchange_wss_parser():
    """``exchange-wss record|replay|relay`` reach these commands."""
    parser = cli.build_parser()
    for command in ("record", "replay", "relay"):
        args = parser.parse_args({"record": ["record", "ftx", "book", "BTC-PERP", "--out", "x"],
                                  "replay": ["replay", "x"],
                                  "relay": ["relay", "--venue", "ftx", "--to", "redis://h",
                                            "--channels", "book", "--symbols", "BTC-PERP"]
                                  }[command])
        assert args.func.__name__ == f"run_{command}"


def test_record_then_replay_offline(tmp_path, capsys):
    """record --sandbox writes a recording that replay reads back with every check passing."""
    out = tmp_path / "rec"
    assert run("record", "ftx", "book,ticker", "BTC-PERP", "--out", str(out), "--sandbox",
               "--duration", "1.5") == 0
    printed = capsys.readouterr().out
    assert "dropped 0" in printed
    assert open_recording(out).venue == "ftx"
    assert run("replay", str(out)) == 0
    printed = capsys.readouterr().out
    assert "orderbook:BTC-PERP:" in printed and "checksum failures 0" in printed


def test_replay_reads_cryptofeed_and_fails_a_bad_checksum(capsys):
    """The trimmed real FTX partial fails its checksum: replay says so and exits 1."""
    assert run("replay", os.path.join(HERE, "fixtures", "cryptofeed", "ftx_orderbook")) == 1
    assert "checksum failures 1" in capsys.readouterr().out


def test_replay_serves_for_a_while(capsys):
    """replay --serve listens, prints its URL and stops after --duration."""
    path = os.path.join(HERE, "fixtures", "cryptofeed", "bitfinex_trades_seq")
    assert run("replay", path, "--serve", "--duration", "0.2") == 0
    assert "/ws/2" in capsys.readouterr().out


def test_replay_converts_to_cryptofeed(tmp_path, capsys):
    """replay --to-cryptofeed writes cryptofeed files that read back as such."""
    src = os.path.join(HERE, "fixtures", "cryptofeed", "binance_depth")
    assert run("replay", src, "--to-cryptofeed", str(tmp_path / "cf"), "--feed", "BINANCE") == 0
    assert open_recording(tmp_path / "cf").format == "cryptofeed"


def test_unknown_channel_is_a_usage_error(tmp_path, capsys):
    """A channel the venue does not have exits 2 with the list of those it has."""
    assert run("record", "ftx", "candles", "BTC-PERP", "--out", str(tmp_path)) == 2
    assert "no channel 'candles'" in capsys.readouterr().err


def test_relay_publishes_a_sandbox_to_redis(redis_server, capsys):
    """relay --sandbox publishes the book stream to a real Redis and drops nothing."""
    import redis
    assert run("relay", "--venue", "bitfinex", "--sandbox", "--to", redis_server.url,
               "--channels", "book", "--symbols", "tBTCUSD", "--duration", "1.5",
               "--stats-interval", "0.5") == 0
    printed = capsys.readouterr().out
    assert "book:tBTCUSD:P0 -> ews:bitfinex:book:tBTCUSD:P0" in printed
    assert redis.Redis.from_url(redis_server.url).xlen("ews:bitfinex:book:tBTCUSD:P0") > 0
