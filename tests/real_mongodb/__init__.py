"""The main flows against a real MongoDB, when MONGODB_URL names one.

Everything else runs on mongomock, which accepts some things MongoDB refuses and the
other way round; these check the queries, updates, indexes and aggregations on the
real server, one file per part of the product. They run only with MONGODB_URL set (e.g.
the compose file's MongoDB: see the README).
"""
