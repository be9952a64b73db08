"""Record any client's raw traffic; replay it over a real WebSocket or straight into the sessions.

Record (``record=`` on any client, a directory or a :class:`Recorder`)::

    client = WssClient(record="recordings/")          # every frame, open and close
    ...
    client.stop()                                      # flushes and closes the files

Replay over a WebSocket on loopback, to any client::

    server = ReplayServer(open_recording("recordings/"), speed=None).start()
    client = WssClient(url=server.url + "/ws/2")       # subscribes as usual

Replay offline, through the protocol sessions (deterministic, for backtests)::

    replay = OfflineReplay("recordings/")
    replay.on(lambda label, event: ...)
    replay.run()

Both read this project's format (:mod:`.format`) and cryptofeed's ``sample_data``
(:mod:`.cryptofeed`). See :doc:`/recording`.
"""

from typing import Any

__all__ = [
    "Recorder", "RecorderStats", "Record", "Recording", "ConnectionInfo", "open_recording",
    "OfflineReplay", "OfflineStats", "ReplayServer", "ReplayStats", "write_cryptofeed",
]

# Imported on first use: the command line registers ``record``/``replay`` from
# here, and parsing arguments must not load Twisted.
_LAZY = {"Recorder": ".recorder", "RecorderStats": ".recorder", "Record": ".reader",
         "Recording": ".reader", "ConnectionInfo": ".reader", "open_recording": ".reader",
         "OfflineReplay": ".offline", "OfflineStats": ".offline", "ReplayServer": ".server",
         "ReplayStats": ".server", "write_cryptofeed": ".cryptofeed"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'exchange_wss.recording' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
