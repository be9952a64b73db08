"""TLS: certificates and host names are verified by default."""

from __future__ import annotations

import datetime

import pytest
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_connection import Listener
from twisted.internet import ssl

from exchange_wss import _reactor
from exchange_wss.connection import ConnectionOptions, WebSocketConnection


def self_signed(hostname: str):
    """A self-signed certificate and key valid for `hostname` only."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert_pem, key_pem


@pytest.fixture
def tls_server():
    """A wss server on 127.0.0.1 whose certificate names `wrong.example`... or localhost."""
    ports = []

    def start(hostname):
        cert_pem, key_pem = self_signed(hostname)
        server_cert = ssl.PrivateCertificate.loadPEM(cert_pem + key_pem)

        class Echo(WebSocketServerProtocol):
            def onOpen(self):
                self.sendMessage(b'{"event":"info","version":2}')

        def listen():
            factory = WebSocketServerFactory("wss://127.0.0.1")
            factory.protocol = Echo
            port = _reactor.get_reactor().listenSSL(0, factory, server_cert.options(),
                                                    interface="127.0.0.1")
            ports.append(port)
            return port.getHost().port

        return _reactor.call_and_wait(listen), ssl.Certificate.loadPEM(cert_pem)

    yield start
    for port in ports:
        _reactor.call_and_wait(port.stopListening)


def connect(url, tls_options=None):
    listener = Listener()
    opts = ConnectionOptions(ping_interval=None, stale_timeout=None, reconnect_delay=0.05,
                             max_reconnect_delay=0.1, max_reconnect=1, tls_options=tls_options)
    conn = WebSocketConnection(url, listener, name="tls", options=opts)
    _reactor.call_and_wait(conn.start)
    return conn, listener


def outcome(listener):
    return listener.events.wait_for(lambda e: e[0] in ("frame", "gave_up"))[0]


def test_trusted_certificate_for_the_host_is_accepted(tls_server):
    """Control: a trusted certificate naming the host connects and data flows."""
    port, cert = tls_server("localhost")
    conn, listener = connect(f"wss://localhost:{port}/ws/2",
                             ssl.optionsForClientTLS("localhost", trustRoot=cert))
    try:
        assert outcome(listener) == "frame"
    finally:
        _reactor.call_and_wait(conn.stop)


def test_certificate_for_another_host_is_refused(tls_server):
    """A trusted certificate that names another host is refused: no frame arrives."""
    port, cert = tls_server("wrong.example")
    conn, listener = connect(f"wss://localhost:{port}/ws/2",
                             ssl.optionsForClientTLS("localhost", trustRoot=cert))
    try:
        assert outcome(listener) == "gave_up"
    finally:
        _reactor.call_and_wait(conn.stop)


def test_untrusted_certificate_is_refused_by_default(tls_server):
    """With default options a self-signed certificate is not trusted."""
    port, _cert = tls_server("localhost")
    conn, listener = connect(f"wss://localhost:{port}/ws/2")
    try:
        assert outcome(listener) == "gave_up"
    finally:
        _reactor.call_and_wait(conn.stop)


def test_a_refused_certificate_is_reported_with_its_reason(tls_server):
    """A client whose TLS verification fails says so on on_error (ConnectionFailed naming
    the TLS failure) and on_event (connect_failed), and keeps trying."""
    from _support import Recorder

    from exchange_wss import WssClient
    from exchange_wss.errors import ConnectionFailed
    from exchange_wss.models import ConnectionState

    port, _cert = tls_server("localhost")
    events, errors = Recorder(), Recorder()
    client = WssClient(url=f"wss://localhost:{port}/ws/2", on_event=events, on_error=errors,
                       reconnect_delay=0.01, max_reconnect_delay=0.05, report_failures_after=2)
    try:
        client.subscribe_to_ticker("tBTCUSD", lambda t: None)
        client.start()
        error = errors.wait_for(lambda e: isinstance(e, ConnectionFailed))
        assert "TLS" in str(error) and "certificate" in str(error).lower()
        events.wait_for(lambda e: isinstance(e, ConnectionState) and e.state == "connect_failed")
        assert client.stats.connect_failures >= 2
    finally:
        client.stop()
