"""cryptofeed's sample_data format: real frames replayed with checksums and sequence numbers.

The recordings under tests/fixtures/cryptofeed/ were built by build.py there from the
real frames in tests/fixtures/ (see PROVENANCE.md); sample_data_excerpt/ is the start
of a real cryptofeed recording (cryptofeed's own sample_data/BITFINEX.ws.11.0).
"""

from __future__ import annotations

import os
import shutil
import time

from _support import Recorder, eventually

from exchange_wss import FtxWssClient, WssClient, models
from exchange_wss.errors import ChecksumMismatch
from exchange_wss.recording import OfflineReplay, ReplayServer, open_recording, write_cryptofeed

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "cryptofeed")


def fixture(name: str) -> str:
    return os.path.join(HERE, name)


def edited_copy(tmp_path, name: str, edit) -> str:
    """A copy of a fixture recording with its .ws. file's lines passed through ``edit``."""
    dest = tmp_path / name
    shutil.copytree(fixture(name), dest)
    for fname in os.listdir(dest):
        if ".ws." in fname:
            path = dest / fname
            lines = path.read_text().splitlines()
            path.write_text("\n".join(edit(lines)) + "\n")
    return str(dest)


def replay(path: str):
    events = []
    rep = OfflineReplay(path)
    rep.on(lambda label, event: events.append((label, event)))
    return rep, rep.run(), events


def test_format_and_venue_are_recognised():
    """A directory of <FEED>.ws.<n>.<k> files reads as cryptofeed, venue from the feed name."""
    for name, venue in [("bitfinex_book_checksum", "bitfinex"), ("ftx_orderbook", "ftx"),
                        ("binance_depth", "binance"), ("sample_data_excerpt", "bitfinex")]:
        rec = open_recording(fixture(name))
        assert (rec.format, rec.venue) == ("cryptofeed", venue)


def test_lines_become_opens_sent_and_received_frames():
    """The <->, <- and plain lines read as open, sent and received, in file order."""
    records = list(open_recording(fixture("bitfinex_trades_seq")).records())
    assert [r.kind for r in records[:4]] == ["open", "sent", "sent", "recv"]
    assert records[0].data["url"] == "wss://api-pub.bitfinex.com/ws/2"
    assert records[1].data == b'{"event":"conf","flags":65536}'
    assert records[3].wall_ns == 1700000000004000000


def test_bitfinex_book_checksum_verifies():
    """The real XRPBTC snapshot plus update reproduce the real cs frame."""
    rep, stats, events = replay(fixture("bitfinex_book_checksum"))
    assert stats.checksum_failures == 0
    kinds = [type(e).__name__ for _label, e in events]
    assert kinds == ["BookSnapshot", "BookUpdate"]
    assert rep.order_book("book:tXRPBTC:P0").bids[0] == (0.0000011, 12, 266122.94)


def test_bitfinex_wrong_checksum_is_caught(tmp_path):
    """The same recording with its cs value changed fails the check."""
    path = edited_copy(tmp_path, "bitfinex_book_checksum",
                       lambda lines: [ln.replace("-1175357890", "12345") for ln in lines])
    _rep, stats, _events = replay(path)
    assert stats.checksum_failures == 1


def test_bitfinex_sequence_numbers_verify():
    """SEQ_ALL numbers 1..5 on the real trades frames run without a gap."""
    _rep, stats, events = replay(fixture("bitfinex_trades_seq"))
    assert stats.sequence_gaps == 0
    assert [type(e).__name__ for _l, e in events] == [
        "TradesSnapshot", "Trade", "Trade", "FundingTrade", "FundingTrade"]


def test_bitfinex_missing_frame_is_a_sequence_gap(tmp_path):
    """Dropping the frame with sequence number 3 is reported as a gap."""
    path = edited_copy(tmp_path, "bitfinex_trades_seq",
                       lambda lines: [ln for ln in lines if not ln.endswith(",3]")])
    _rep, stats, _events = replay(path)
    assert stats.sequence_gaps == 1


def test_real_cryptofeed_recording_replays_with_sequence_numbers():
    """The start of a real cryptofeed recording: 7 tickers, SEQ_ALL 1..7 without a gap."""
    _rep, stats, events = replay(fixture("sample_data_excerpt"))
    assert stats.sequence_gaps == stats.malformed == 0
    tickers = [e for _l, e in events if isinstance(e, models.Ticker)]
    assert [t.symbol for t in tickers][:2] == ["tBFTUSD", "tIOTETH"] and len(tickers) == 7


def test_ftx_book_checksum_is_checked():
    """The real BTC-1227 partial is checked; tardis trimmed it to one level a side, so
    its checksum (of the whole book) cannot match: the replay says so and delivers no
    book it cannot trust, while the ticker and trades come through."""
    _rep, stats, events = replay(fixture("ftx_orderbook"))
    assert stats.checksum_failures == 1
    labels = [label for label, _e in events]
    assert labels == ["ticker:BTC/EUR", "trades:ETH-PERP"]


def test_ftx_checksum_of_the_trimmed_book_matches_when_recomputed(tmp_path):
    """With the checksum FTX would send for the one-level book, the check passes and the
    book is delivered."""
    import zlib
    good = zlib.crc32(b"9805.0:15.5629:9807.75:20.1695")
    path = edited_copy(tmp_path, "ftx_orderbook",
                       lambda lines: [ln.replace("2240307563", str(good)) for ln in lines])
    rep, stats, _events = replay(path)
    assert stats.checksum_failures == 0
    assert rep.order_book("orderbook:BTC-1227").asks == [(9807.75, 20.1695)]


def test_binance_depth_syncs_by_update_ids():
    """Real GNTBTC diffs around a real snapshot: buffered, synced, one diff applied."""
    rep, stats, events = replay(fixture("binance_depth"))
    assert stats.sequence_gaps == 0
    assert [type(e).__name__ for _l, e in events] == ["BookSnapshot", "BookDiff"]
    book = rep.order_book("gntbtc@depth")
    assert book.bids[0] == (0.00002248, 114.0) and (0.00002257, 0.0) not in book.asks


def test_binance_update_id_gap_breaks_the_sync(tmp_path):
    """A diff whose first update id skips one after the synced book is a gap."""
    path = edited_copy(tmp_path, "binance_depth", lambda lines: [
        ln.replace('"U":41603417,"u":41603419', '"U":41603420,"u":41603421') for ln in lines])
    _rep, stats, _events = replay(path)
    assert stats.sequence_gaps == 1


def test_writer_follows_the_same_rules(tmp_path):
    """Records read from a fixture and written back give the fixture's lines."""
    for name, feed in [("bitfinex_book_checksum", "BITFINEX"), ("binance_depth", "BINANCE")]:
        records = list(open_recording(fixture(name)).records())
        out = tmp_path / name
        write_cryptofeed(records, str(out), feed)
        for fname in os.listdir(fixture(name)):
            with open(os.path.join(fixture(name), fname)) as f:
                assert (out / fname).read_text() == f.read()


def test_own_recording_converts_to_cryptofeed_and_back(tmp_path):
    """An exchange_wss recording written in cryptofeed's format reads back frame for frame."""
    from exchange_wss.recording import Recorder
    with Recorder(tmp_path / "rec") as rec:
        conn = rec.opened("public-0", "wss://api-pub.bitfinex.com/ws/2")
        rec.sent(conn, b'{"event":"subscribe","channel":"ticker","symbol":"tBTCUSD"}')
        rec.received(conn, time.time_ns(), time.monotonic_ns(),
                     [b'{"event":"info","version":2}', b"[1,2]"])
    ours = [(r.kind, r.data) for r in open_recording(tmp_path / "rec").records()
            if r.kind in ("sent", "recv")]
    write_cryptofeed(open_recording(tmp_path / "rec").records(), str(tmp_path / "cf"),
                     "BITFINEX")
    theirs = [(r.kind, r.data) for r in open_recording(tmp_path / "cf").records()
              if r.kind in ("sent", "recv")]
    assert theirs == ours


def test_replay_server_serves_a_cryptofeed_recording_to_a_checksumming_client():
    """WssClient on the replay server gets the real XRPBTC book, its cs frame verified."""
    server = ReplayServer(open_recording(fixture("bitfinex_book_checksum"))).start()
    errors, got = Recorder(), Recorder()
    client = WssClient(url=server.url + "/ws/2", on_error=errors, stale_timeout=None)
    client.subscribe_to_orderbook("tXRPBTC", "P0", got)
    try:
        client.start()
        got.wait_for(lambda e: isinstance(e, models.BookUpdate))
        eventually(lambda: server.stats.frames_sent >= 5)
        assert client.order_book("tXRPBTC").bids[0] == (0.0000011, 12, 266122.94)
    finally:
        client.stop()
        server.stop()
    assert not errors.of_type(ChecksumMismatch)


def test_replay_server_serves_the_ftx_partial_to_ftx_client():
    """FtxWssClient on the replay server gets the real partial and, like the offline
    replay, finds its checksum wrong (the partial was trimmed), and says so."""
    server = ReplayServer(open_recording(fixture("ftx_orderbook"))).start()
    errors, got = Recorder(), Recorder()
    client = FtxWssClient(url=server.url + "/ws/", on_error=errors, stale_timeout=None)
    client.subscribe_to_orderbook("BTC-1227", got)
    try:
        client.start()
        errors.wait_for(lambda e: isinstance(e, ChecksumMismatch))
    finally:
        client.stop()
        server.stop()
    assert not got.of_type(models.BookSnapshot)
