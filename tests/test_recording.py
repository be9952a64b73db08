"""The recorder and its hook: what is written, when, how it survives crashes and slow disks."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import re
import threading

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fast_path import _GUID, Listener, Transport, frame, text
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from exchange_wss import WssClient
from exchange_wss.connection import ConnectionOptions, WebSocketConnection, _ClientProtocol
from exchange_wss.errors import LocalProtocolError
from exchange_wss.recording import Recorder, open_recording
from exchange_wss.recording import format as fmt
from exchange_wss.recording._hook import RecordingClientProtocol


def recorded_connection(recorder, fast_path=True):
    """A connection recording to ``recorder``, opened over an in-memory transport."""
    listener = Listener()
    options = ConnectionOptions(ping_interval=None, stale_timeout=None, fast_path=fast_path,
                                record=recorder)
    conn = WebSocketConnection("ws://127.0.0.1:9/ws/2", listener, name="public-0",
                               options=options, reactor=MemoryReactorClock())
    proto = conn._factory.buildProtocol(None)
    transport = Transport()
    proto.makeConnection(transport)
    key = re.search(rb"Sec-WebSocket-Key: (\S+)", transport.value()).group(1)
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    transport.clear()
    proto.dataReceived(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    return conn, proto, transport, listener


def records(path):
    return list(open_recording(path).records())


# --------------------------------------------------------------------------- the hook

def test_recording_off_uses_the_plain_protocol():
    """Without record= the connection builds the plain protocol class: nothing to pay."""
    conn = WebSocketConnection("ws://127.0.0.1:9/ws/2", Listener(), reactor=MemoryReactorClock())
    assert conn._factory.protocol is _ClientProtocol


def test_recording_on_uses_the_recording_protocol(tmp_path):
    """With record= the recording subclass is built instead."""
    with Recorder(tmp_path) as rec:
        conn, proto, _t, _l = recorded_connection(rec)
        assert type(proto) is RecordingClientProtocol and conn.options.record is rec


@pytest.mark.parametrize("fast_path", [True, False])
def test_frames_of_one_read_share_its_timestamps(tmp_path, fast_path):
    """Three frames in one read are three R records with the same wall and monotonic times."""
    with Recorder(tmp_path) as rec:
        _c, proto, _t, listener = recorded_connection(rec, fast_path)
        proto.dataReceived(text([1, "a"]) + text([2, "b"]) + text({"c": 3}))
    got = [r for r in records(tmp_path) if r.kind == "recv"]
    assert [r.data for r in got] == [b'[1,"a"]', b'[2,"b"]', b'{"c":3}']
    assert len({(r.wall_ns, r.mono_ns) for r in got}) == 1
    assert [m for kind, *m in listener.events if kind == "message"] == [
        [[1, "a"]], [[2, "b"]], [{"c": 3}]]


def test_a_send_during_a_read_comes_after_what_was_read(tmp_path):
    """A frame sent from a callback lands after the frames already read, before the rest."""
    with Recorder(tmp_path) as rec:
        conn, proto, _t, listener = recorded_connection(rec)

        def answer(msg):
            listener.events.append(("message", msg))
            if msg == [1]:
                conn.send({"pong": 1})
        listener.frame_received = answer
        proto.dataReceived(text([1]) + text([2]))
    kinds = [(r.kind, r.data) for r in records(tmp_path) if r.kind in ("recv", "sent")]
    assert kinds == [("recv", b"[1]"), ("sent", b'{"pong":1}'), ("recv", b"[2]")]


def test_open_and_close_are_recorded_with_who_closed(tmp_path):
    """The open names the connection and URL; the close has the code and says the client closed."""
    with Recorder(tmp_path) as rec:
        conn, proto, _transport, _l = recorded_connection(rec)
        conn._stopping = True
        proto.sendClose(1000)
        proto.dataReceived(frame(8, b"\x03\xe8"))
        proto.connectionLost(Failure(ConnectionDone()))
    got = records(tmp_path)
    assert got[0].kind == "open" and got[0].data == {"name": "public-0",
                                                    "url": "ws://127.0.0.1:9/ws/2"}
    close = got[-1]
    assert close.kind == "close" and close.data["code"] == 1000 and close.data["by_client"]


def test_binary_and_multiline_frames_survive(tmp_path):
    """A binary frame and a text frame with a line feed come back byte for byte."""
    with Recorder(tmp_path) as rec:
        _c, proto, _t, _l = recorded_connection(rec)
        proto.dataReceived(frame(2, b"\x00\x01\n") + frame(1, b'{"a":\n1}'))
    got = [(r.data, r.binary) for r in records(tmp_path) if r.kind == "recv"]
    assert got == [(b"\x00\x01\n", True), (b'{"a":\n1}', False)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.integers(-2**53, 2**53), st.text(max_size=300)), min_size=1,
                max_size=20),
       st.lists(st.integers(min_value=1, max_value=400), max_size=8))
def test_every_delivered_frame_is_recorded_once_in_order(tmp_path_factory, items, cuts):
    """Whatever the read boundaries, the recorded frames are the delivered ones, in order."""
    path = tmp_path_factory.mktemp("rec")
    stream = b"".join(text([i, item]) for i, item in enumerate(items))
    with Recorder(path) as rec:
        _c, proto, _t, listener = recorded_connection(rec)
        pos = 0
        for cut in cuts:
            proto.dataReceived(stream[pos:pos + cut])
            pos += cut
        proto.dataReceived(stream[pos:])
    got = [orjson.loads(r.data) for r in records(path) if r.kind == "recv"]
    assert got == [m[0] for kind, *m in listener.events if kind == "message"]
    assert got == [[i, item] for i, item in enumerate(items)]


# ------------------------------------------------------------------------ redaction

def test_credentials_in_sent_frames_are_redacted():
    """API keys and signatures (Bitfinex, FTX, Binance) never reach the file."""
    frames = [
        b'{"event":"auth","apiKey":"K","authSig":"S","authPayload":"AUTH1","authNonce":1}',
        b'{"op":"login","args":{"key":"K","sign":"S","time":1}}',
        b'{"id":1,"method":"order.place","params":{"apiKey":"K","signature":"S","price":"1"}}',
    ]
    for raw in frames:
        out = fmt.redact_sent(raw)
        assert b'"K"' not in out and b'"S"' not in out and b"<redacted>" in out
    assert b'"price":"1"' in fmt.redact_sent(frames[2])


def test_public_key_fields_are_kept():
    """Bitfinex candle subscriptions carry a public "key": it stays."""
    raw = b'{"event":"subscribe","channel":"candles","key":"trade:1m:tBTCUSD"}'
    assert fmt.redact_sent(raw) == raw


def test_listen_keys_are_redacted_from_urls_and_received_frames():
    """A listenKey in a URL path, a query or a received event is replaced."""
    key = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"
    assert key not in fmt.redact_url(f"wss://fstream.binance.com/ws/{key}")
    assert key not in fmt.redact_url(f"wss://x/private/ws?listenKey={key}&events=A")
    frames = fmt.redact_received([b'{"e":"listenKeyExpired","listenKey":"' + key.encode() + b'"}'])
    assert key.encode() not in frames[0]


# -------------------------------------------------------------------------- the files

def _decompressed(path: str, codec: str) -> bytes:
    if codec == "gzip":
        return gzip.open(path).read()  # a standard reader reads the concatenated members
    import zstandard
    with open(path, "rb") as fh:  # a standard reader reads the concatenated frames
        return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True).read()


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
def test_blocks_are_written_by_size_as_standard_frames(tmp_path, codec):
    """Past block_bytes a block is written; the file is frames a standard tool reads."""
    with Recorder(tmp_path, block_bytes=200, codec=codec) as rec:
        conn = rec.opened("x", "ws://h/")
        for i in range(20):
            rec.received(conn, i, i, [b"[%d,%s]" % (i, b"1" * 40)])
    path = rec.files[0]
    assert path.endswith(".wsrec.zst" if codec == "zstd" else ".wsrec.gz")
    assert rec.stats.blocks_written > 5
    text_ = _decompressed(path, codec)
    assert text_.startswith(fmt.MAGIC) and text_.count(b"\nR ") == 20


def test_zstd_is_the_default_when_installed(tmp_path):
    """With zstandard installed, recordings are zstd (about three times cheaper to write)."""
    assert Recorder(tmp_path).codec == "zstd"


def test_flush_writes_what_is_buffered(tmp_path):
    """flush() puts the current block on disk before the interval would."""
    rec = Recorder(tmp_path, flush_interval=3600)
    conn = rec.opened("x", "ws://h/")
    rec.received(conn, 1, 1, [b"[1]"])
    rec.flush()
    assert [r.data for r in records(tmp_path) if r.kind == "recv"] == [b"[1]"]
    rec.close()


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
def test_a_crash_loses_at_most_the_last_block(tmp_path, codec):
    """A file cut inside its last block reads up to the previous block; the cut is counted."""
    with Recorder(tmp_path, block_bytes=100, codec=codec) as rec:
        conn = rec.opened("x", "ws://h/")
        for i in range(10):
            rec.received(conn, i, i, [b"[%d,%s]" % (i, b"2" * 60)])
    path = rec.files[0]
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:-20])  # the writer died mid-block
    recording = open_recording(tmp_path)
    got = [r.data for r in recording.records() if r.kind == "recv"]
    assert got == [b"[%d,%s]" % (i, b"2" * 60) for i in range(len(got))]
    assert len(got) >= 8 and recording.truncated == 1


def test_files_rotate_by_size_and_each_names_the_open_connections(tmp_path):
    """Past rotate_bytes a new file starts; its header lists the connections still open."""
    with Recorder(tmp_path, block_bytes=100, rotate_bytes=100) as rec:
        conn = rec.opened("public-0", "ws://h/ws/2")
        for i in range(10):
            rec.received(conn, i, i, [b"[%d,%s]" % (i, b"3" * 80)])
            rec.flush()
    assert len(rec.files) > 2 and sorted(rec.files) == rec.files
    first_line = _decompressed(rec.files[-1], rec.codec).split(b"\n", 1)[0]
    header = fmt.parse_header(first_line)
    assert header["open"] == [{"name": "public-0", "url": "ws://h/ws/2", "conn": 1}]
    assert len([r for r in records(tmp_path) if r.kind == "recv"]) == 10


def test_a_disk_that_falls_behind_costs_counted_and_marked_drops(tmp_path):
    """With the writer stuck, blocks beyond max_pending_blocks are dropped, counted, and a
    G record in the file says how many records are missing there."""
    release = threading.Event()
    rec = Recorder(tmp_path, block_bytes=50, max_pending_blocks=1)
    original = rec._write_block

    def slow_write(*item):
        release.wait(10)
        original(*item)
    rec._write_block = slow_write
    conn = rec.opened("x", "ws://h/")
    for i in range(30):
        rec.received(conn, i, i, [b"[%d,%s]" % (i, b"4" * 60)])
    assert rec.stats.records_dropped > 0
    dropped = rec.stats.records_dropped
    release.set()
    rec.received(conn, 99, 99, [b"[99]"])
    rec.close()
    got = records(tmp_path)
    gaps = [r for r in got if r.kind == "gap"]
    assert sum(g.data["records"] for g in gaps) == dropped
    assert len([r for r in got if r.kind in ("recv", "open")]) + dropped == 32


def test_records_after_close_are_counted_as_dropped(tmp_path):
    """A recorder closed under a running client drops and counts what comes later."""
    rec = Recorder(tmp_path)
    rec.close()
    rec.received(1, 1, 1, [b"[1]"])
    assert rec.stats.records_dropped == 1


def test_bad_settings_fail_fast(tmp_path):
    """A file where the directory should be, or a zero block size, is refused."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(LocalProtocolError):
        Recorder(tmp_path / "file")
    with pytest.raises(LocalProtocolError):
        Recorder(tmp_path / "d", block_bytes=0)


def test_client_owns_a_recorder_made_from_a_path(tmp_path):
    """record=PATH: the client makes the recorder and closes it at stop()."""
    client = WssClient(record=str(tmp_path), reactor=MemoryReactorClock())
    recorder = client._conn_options.record
    assert isinstance(recorder, Recorder) and recorder.prefix == "WssClient"
    client.stop()
    assert recorder._closed


def test_client_leaves_a_given_recorder_open(tmp_path):
    """record=Recorder(...): the recorder is the caller's, still open after stop()."""
    recorder = Recorder(tmp_path)
    client = WssClient(record=recorder, reactor=MemoryReactorClock())
    client.stop()
    assert not recorder._closed
    recorder.close()


def test_records_are_laid_out_as_documented(tmp_path):
    """A read's frames are one R header with their count and the frames on the lines after;
    a frame with a line feed is an RX record of its own."""
    block = fmt.frames_record(b"R", 3, 10, 20, [b"[1]", b'{"a":\n1}', b"[2]"])
    assert block == (b"R 3 10 20 1\n[1]\nRX 3 10 20 " + base64.b64encode(b'{"a":\n1}') +
                     b"\nR 3 10 20 1\n[2]\n")
    assert fmt.parse_header_line(b"R 3 10 20 1") == fmt.Line("R", 3, 10, 20, b"1")
    assert os.path.splitext(fmt.file_name("p", (2026, 1, 2, 3, 4, 5), 7))[0].endswith(".wsrec")


def test_a_cut_frames_record_is_not_read_in_part(tmp_path):
    """A block cut inside an R record keeps only the records before it."""
    from exchange_wss.recording.reader import _complete_records
    lines = (fmt.frames_record(b"R", 1, 1, 1, [b"[1]", b"[2]"]) +
             fmt.frames_record(b"R", 1, 2, 2, [b"[3]", b"[4]", b"[5]"])).split(b"\n")[:-2]
    assert _complete_records(lines) == lines[:3]
