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

from .cryptofeed import write_cryptofeed
from .offline import OfflineReplay, OfflineStats
from .reader import ConnectionInfo, Record, Recording, open_recording
from .recorder import Recorder, RecorderStats
from .server import ReplayServer, ReplayStats

__all__ = [
    "Recorder", "RecorderStats", "Record", "Recording", "ConnectionInfo", "open_recording",
    "OfflineReplay", "OfflineStats", "ReplayServer", "ReplayStats", "write_cryptofeed",
]
