"""Example gunicorn settings for the runtime (production). Imports nothing from Parley.

    gunicorn -c webhook/gunicorn.conf.py webhook.wsgi:app

Several worker processes share one database. On SQLite each opens its own connections to the
file and the write lock serializes the messages of a phone; on PostgreSQL each process keeps a
pool of PARLEY_DATABASE_POOL_SIZE connections (threads + 1 by default) and a phone's messages
are serialized by that phone's advisory lock, so any number of nodes may run this file. Each
process runs several threads so that the messages it handles at the same moment share one
COMMIT (engine/commits.py): on 2 cores, 3
processes of 4 threads served about 1.4 times what 5 single-threaded ones did (bench/README.md).
Run the sender beside it as its own process: `parley worker`. Configuration comes from PARLEY_*
environment variables (see the README).
"""

import multiprocessing
import os

bind = os.environ.get("PARLEY_BIND", "127.0.0.1:8000")  # a TLS proxy in front of it
workers = int(os.environ.get("PARLEY_WORKERS", min(multiprocessing.cpu_count() + 1, 8)))
worker_class = "gthread"
threads = int(os.environ.get("PARLEY_THREADS", 4))
timeout = 30  # Twilio waits 15 s for an answer; a data source may take a few seconds
graceful_timeout = 30
preload_app = False  # each worker builds its own app (and database connections)
max_requests = 2000  # recycle workers now and then
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
