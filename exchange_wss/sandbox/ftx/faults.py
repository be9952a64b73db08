"""The faults an FTX sandbox can be told to inject."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._faults_base import ChecksumFaults, FaultsBase, WireFaults
from .wire import INFO_TEXTS

if TYPE_CHECKING:
    from .handle import FtxSandbox


# -- faults -----------------------------------------------------------------------------

class FtxFaults(FaultsBase, ChecksumFaults, WireFaults):
    """Inject faults into a running :class:`FtxSandbox`; every method is thread-safe.

    Shared with every sandbox (:mod:`exchange_wss.sandbox._faults_base`):
    :meth:`drop_connections`, :meth:`stall` / :meth:`resume` (pongs held too),
    :meth:`malformed_frame`, :meth:`corrupt_next_checksum` (the next orderbook
    partial or update), :meth:`close_and_linger`, :meth:`send_oversized_frame`,
    :meth:`send_endless_frame`. FTX's own:

    - :meth:`send_info`: ``{"type":"info","code":20001,"msg":...}`` on every connection.
    - :meth:`refuse_next_unsubscribe`: the next unsubscribe is answered with an error.
    """

    malformed_text = '{"channel":"orderbook","type":'

    def __init__(self, sandbox: FtxSandbox):
        super().__init__(sandbox)

    def send_info(self, code: int = 20001, msg: str | None = None) -> None:
        """Send an info message (20001: "Server restarting, please reconnect") everywhere."""
        text = msg if msg is not None else INFO_TEXTS.get(code, "Info")
        self._sb._call(lambda: self._server().broadcast({"type": "info", "code": code,
                                                         "msg": text}))

    def refuse_next_unsubscribe(self) -> None:
        """Answer the next unsubscribe with ``{"type":"error","msg":"Not subscribed"}``
        and keep the subscription."""
        def run() -> None:
            self._server().faults.refuse_next_unsubscribe = 400
        self._sb._call(run)


