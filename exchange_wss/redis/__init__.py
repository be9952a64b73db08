"""Fan-out through Redis Streams: a relay publishes, consumers on any machine subscribe.

::

    # the relay process: the only one holding exchange connections
    from exchange_wss import WssClient
    from exchange_wss.redis import Relay, RedisStreamsSink

    relay = Relay(WssClient(), RedisStreamsSink("redis://10.0.0.5:6379/0"))
    relay.subscribe_to_orderbook("tBTCUSD", "P0")
    relay.subscribe_to_trades("tBTCUSD")
    relay.start()

    # any number of strategy processes, anywhere
    from exchange_wss.redis import RedisClient

    client = RedisClient("redis://10.0.0.5:6379/0", venue="bitfinex")
    client.subscribe_to_orderbook("tBTCUSD", "P0", on_book)
    client.start()

Needs the ``redis`` package (``pip install 'exchange_wss[redis]'``). See :doc:`/redis`.
"""

from .consumer import ConsumerStats, RedisClient
from .relay import Relay, RelayStats, stream_name
from .server import RedisServer, find_redis_server
from .sink import Entry, RedisStreamsSink, Sink

__all__ = ["Relay", "RelayStats", "RedisClient", "ConsumerStats", "Sink", "Entry",
           "RedisStreamsSink", "RedisServer", "find_redis_server", "stream_name"]
