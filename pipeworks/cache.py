"""Django's Redis cache, keeping one Redis client per server.

Django's Redis cache builds a new ``redis.Redis`` object (a table of some 200 response
callbacks) for every call on a pooled connection: a few percent of an API write, which
reads the cached credentials and counts the write throttle. A client object holds no
connection of its own and is safe to share between threads (redis-py), so one per
server serves every call.
"""

from django.core.cache.backends import redis


class RedisCacheClient(redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
