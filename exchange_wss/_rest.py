"""Blocking REST calls (``requests``) run off the reactor thread.

Binance needs a few REST calls next to its sockets (listenKey create and
keepalive, depth snapshots). ``requests`` blocks, so every call runs in the
reactor's thread pool and comes back as a Deferred; the reactor never waits on
the network.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import requests

# defer for the annotations only (loaded with threads anyway), imported so that the
# API reference can name the Deferred.
from twisted.internet import defer, threads

from .errors import ExchangeError, RestError

__all__ = ["RestClient"]


class RestClient:
    """A small JSON-over-HTTPS client whose calls return Deferreds.

    Args:
        base_url: e.g. ``https://fapi.binance.com``.
        reactor: the reactor whose thread pool runs the calls.
        api_key: sent as ``X-MBX-APIKEY`` when given (never logged).
        timeout: seconds per request.
        recorder: a :class:`~exchange_wss.recording.Recorder` that gets every
            answered call (a client's ``record=``), for replays of books that
            start from a REST snapshot.
    """

    def __init__(self, base_url: str, reactor: Any, api_key: str | None = None,
                 timeout: float = 10.0, recorder: Any = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.reactor = reactor
        self._session = requests.Session()
        if api_key:
            self._session.headers["X-MBX-APIKEY"] = api_key
        self.timeout = timeout
        self.recorder = recorder

    def __repr__(self) -> str:
        return f"<RestClient {self.base_url}>"

    def call(self, method: str, path: str, params: dict[str, Any] | None = None, *,
             body: bytes | None = None, headers: dict[str, str] | None = None,
             query: str | None = None) -> defer.Deferred[Any]:
        """``method path?params`` in the thread pool; a Deferred of the decoded JSON.

        ``body`` (already-encoded JSON) and ``headers`` are sent as given, for
        APIs that sign the exact bytes (FTX). ``query`` instead of ``params``: a
        query string sent exactly as given (a signed request, whose signature
        covers the string as sent; see
        :func:`~exchange_wss.binance.signing.rest_signed_query`). It never
        appears in an error message.

        Errors: :class:`~exchange_wss.errors.ExchangeError` carrying the
        exchange's ``code`` and ``msg``; :class:`~exchange_wss.errors.RestError`
        for a network failure or timeout (``code`` None) or an HTTP status
        without an exchange error (``code`` the status).
        """
        if query is not None and params is not None:
            raise ValueError("give params or query, not both")
        d = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                      self._call_blocking, method, path, params, body, headers,
                                      query)
        if self.recorder is not None:
            # A signed query is recorded as its parameters (the recorder redacts the
            # signature), never as the string that carries it.
            shown = params if query is None else dict(parse_qsl(query, keep_blank_values=True))

            def record(answer: Any) -> Any:  # on the reactor thread, in answer order
                self.recorder.http(method, self.base_url + path, shown, 200, answer)
                return answer
            d.addCallback(record)
        return d

    def _call_blocking(self, method: str, path: str, params: dict[str, Any] | None,
                       body: bytes | None = None,
                       headers: dict[str, str] | None = None,
                       query: str | None = None) -> Any:
        # Every failure becomes a library error naming the method and path only:
        # the query (a listenKey, a signature) never reaches a message, and
        # requests' own exception texts, which quote the whole URL, stay in
        # __cause__ only for a debugger.
        where = f"{method} {path}"
        if body is not None:
            headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            url = self.base_url + path
            if query is not None:
                # A string is sent as it is: what was signed is what the server reads.
                url = f"{url}?{query}"
            response = self._session.request(method, url, params=params, data=body,
                                             headers=headers, timeout=self.timeout)
        except requests.ConnectTimeout as exc:
            raise RestError(None, f"{where}: could not connect within {self.timeout:g}s",
                            sent=False) from exc
        except requests.Timeout as exc:
            raise RestError(None, f"{where}: no answer within {self.timeout:g}s") from exc
        except requests.ConnectionError as exc:
            # A refused or unresolvable connection sent nothing; a reset midway may have.
            sent = False if _never_connected(exc) else None
            raise RestError(None, f"{where}: {type(exc).__name__}", sent=sent) from exc
        except requests.RequestException as exc:
            raise RestError(None, f"{where}: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            if isinstance(body, dict) and "code" in body:
                raise ExchangeError(body.get("code"), body.get("msg"), body)
            raise RestError(response.status_code, f"HTTP {response.status_code} on {where}",
                            body)
        return body

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._session.close()


def _never_connected(exc: BaseException) -> bool:
    """True when ``requests`` failed before a connection existed (refused, DNS)."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)
