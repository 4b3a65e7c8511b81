"""Example gunicorn settings for the runtime (production). Imports nothing from Parley.

    gunicorn -c webhook/gunicorn.conf.py webhook.wsgi:app

Several worker processes share one database. On SQLite each opens its own connections to the
file and the write lock serializes the messages of a phone; on PostgreSQL each process keeps a
pool of PARLEY_DATABASE_POOL_SIZE connections (threads + 1 by default) and a phone's messages
are serialized by that phone's advisory lock, so any number of nodes may run this file. Each
process runs several threads so that the messages it handles at the same moment share one
COMMIT (engine/commits.py): on 2 cores, 3 processes of 4 threads served about 1.4 times what
5 single-threaded ones did (bench/README.md). Run the sender beside it as its own process:
`parley worker`. Configuration comes from PARLEY_* environment variables (see the README).

Agents' pages keep an event stream open (/agent/api/events, server-sent events), and a
gthread worker gives each open stream one of its threads for as long as it lasts. So that
open streams never starve Twilio's webhooks, each process gets PARLEY_AGENT_STREAMS threads
(default 16) on top of its PARLEY_THREADS request threads, and serves at most that many
streams at once (PARLEY_AGENT_PUSH_MAX_STREAMS, set here for the workers): the request
threads stay free whatever the agents do. A browser's streams land on any worker, so
workers x PARLEY_AGENT_STREAMS should exceed the pages agents keep open (two or three each);
a page refused a stream polls until one is free. A waiting stream costs a thread's stack,
not CPU; it borrows a database connection only while it reads events, and hands its thread
back after PARLEY_AGENT_PUSH_STREAM_MINUTES (default 10; the browser reconnects at once,
from where it was).
"""

import multiprocessing
import os

bind = os.environ.get("PARLEY_BIND", "127.0.0.1:8000")  # a TLS proxy in front of it
workers = int(os.environ.get("PARLEY_WORKERS", min(multiprocessing.cpu_count() + 1, 8)))
worker_class = "gthread"
agent_streams = int(os.environ.get("PARLEY_AGENT_STREAMS", 16))
threads = int(os.environ.get("PARLEY_THREADS", 4)) + agent_streams
# Inherited by the workers (forked from this process): the streams' cap per process.
os.environ.setdefault("PARLEY_AGENT_PUSH_MAX_STREAMS", str(agent_streams))
timeout = 30  # Twilio waits 15 s for an answer; a data source may take a few seconds
graceful_timeout = 30
preload_app = False  # each worker builds its own app (and database connections)
max_requests = 2000  # recycle workers now and then
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
