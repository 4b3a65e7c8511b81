"""The schema, as numbered migrations (sqlite-utils). Imports sealing, engine.store.values.

A migration is recorded by its function's name: never rename one, and add new ones at the end.
"""

from __future__ import annotations

import json

import sqlite_utils
from sqlite_utils.migrations import Migrations

from engine import sealing
from engine.store.values import dumps

migrations = Migrations("parley")


@migrations()
def m0001_core(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE topics (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL DEFAULT 'topic',
            latest_version INTEGER NOT NULL,
            published_version INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT
        );
        CREATE TABLE topic_versions (
            topic_id TEXT NOT NULL REFERENCES topics(id) ON UPDATE CASCADE ON DELETE CASCADE,
            version INTEGER NOT NULL,
            document TEXT NOT NULL,
            author TEXT,
            note TEXT,
            created_at TEXT NOT NULL,
            errors INTEGER NOT NULL DEFAULT 0,
            warnings INTEGER NOT NULL DEFAULT 0,
            published_at TEXT,
            published_by TEXT,
            PRIMARY KEY (topic_id, version)
        );
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            user_name TEXT NOT NULL UNIQUE,
            display_name TEXT,
            email TEXT,
            mobile TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE phone_links (
            phone TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            linked_at TEXT NOT NULL
        );
        CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            number TEXT UNIQUE,
            short_description TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            category TEXT,
            state TEXT NOT NULL DEFAULT 'open',
            priority TEXT,
            opened_by TEXT,
            assigned_to TEXT,
            opened_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX cases_opened_by ON cases (opened_by, state);
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            phone TEXT NOT NULL,
            user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            mode TEXT,
            topic_id TEXT,
            node TEXT,
            state TEXT NOT NULL,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT,
            rev INTEGER NOT NULL DEFAULT 0
        );
        -- At most one open conversation per phone; the lookup every SMS makes.
        CREATE UNIQUE INDEX conversations_open_phone ON conversations (phone)
            WHERE closed_at IS NULL;
        CREATE INDEX conversations_phone ON conversations (phone, id);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            sender TEXT NOT NULL CHECK (sender IN ('user', 'bot', 'agent', 'system')),
            kind TEXT NOT NULL DEFAULT 'text',
            body TEXT NOT NULL DEFAULT '',
            media TEXT,
            node TEXT,
            sid TEXT UNIQUE,
            status TEXT,
            error_code TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX messages_conversation ON messages (conversation_id, id);
        """
    )


@migrations()
def m0002_runtime(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- Each inbound MessageSid once: claimed by one atomic insert, with the TwiML answered.
        CREATE TABLE inbound_claims (
            sid TEXT PRIMARY KEY,
            phone TEXT NOT NULL,
            account_sid TEXT,
            conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
            reply TEXT,
            claimed_at TEXT NOT NULL
        );
        -- What the runtime sends outside a TwiML reply, written with the state change.
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            phone TEXT NOT NULL,
            channel TEXT NOT NULL DEFAULT 'conversation'
                CHECK (channel IN ('conversation', 'notification')),
            body TEXT NOT NULL DEFAULT '',
            media TEXT,
            message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'blocked')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            lease_owner TEXT,
            lease_until TEXT,
            sid TEXT,
            delivery_status TEXT,
            error_code TEXT,
            error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX outbox_open ON outbox (phone, id) WHERE status IN ('pending', 'sending');
        CREATE INDEX outbox_sid ON outbox (sid);
        CREATE INDEX outbox_message ON outbox (message_id);
        CREATE TABLE opt_outs (
            phone TEXT PRIMARY KEY,
            source TEXT,
            created_at TEXT NOT NULL
        );
        -- The best delivery status seen per sid, even before the sender recorded the sid.
        CREATE TABLE message_statuses (
            sid TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            error_code TEXT,
            updated_at TEXT NOT NULL
        );
        -- Downloads of inbound media, done by the worker off the request path.
        CREATE TABLE media_fetches (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            url TEXT NOT NULL,
            content_type TEXT,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'fetching', 'done', 'failed', 'refused')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            lease_owner TEXT,
            lease_until TEXT,
            file TEXT,
            size INTEGER,
            error TEXT,
            created_at TEXT NOT NULL,
            done_at TEXT
        );
        CREATE INDEX media_fetches_due ON media_fetches (status, next_attempt_at);
        CREATE INDEX media_fetches_message ON media_fetches (message_id);
        -- The local sandbox's simulated phones: what each one sent and received.
        CREATE TABLE sandbox_inbox (
            id INTEGER PRIMARY KEY,
            phone TEXT NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('sent', 'received')),
            number TEXT NOT NULL,
            body TEXT NOT NULL DEFAULT '',
            media TEXT,
            sid TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX sandbox_inbox_phone ON sandbox_inbox (phone, id);
        """
    )


@migrations()
def m0003_designer(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE designer_authors (
            id INTEGER PRIMARY KEY,
            user_name TEXT NOT NULL UNIQUE,
            display_name TEXT,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_login_at TEXT
        );
        CREATE TABLE designer_sessions (
            token_hash TEXT PRIMARY KEY,
            author_id INTEGER NOT NULL REFERENCES designer_authors(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL
        );
        CREATE INDEX designer_sessions_author ON designer_sessions (author_id);
        CREATE TABLE designer_transcripts (
            id INTEGER PRIMARY KEY,
            topic_id TEXT NOT NULL,
            name TEXT NOT NULL,
            document TEXT NOT NULL,
            author TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX designer_transcripts_topic ON designer_transcripts (topic_id, id);
        """
    )


@migrations()
def m0004_accounts(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- The PIN is stored as werkzeug's salted slow hash of HMAC(pepper, PIN); the pepper
        -- lives in the configuration, never here.
        ALTER TABLE users ADD COLUMN pin_hash TEXT;
        ALTER TABLE users ADD COLUMN pin_set_at TEXT;
        ALTER TABLE users ADD COLUMN totp_secret TEXT;
        ALTER TABLE users ADD COLUMN totp_enrolled_at TEXT;
        -- The last accepted RFC 6238 time step: a code is accepted once only.
        ALTER TABLE users ADD COLUMN totp_last_step INTEGER;
        -- Notifications are off until the user texts START.
        ALTER TABLE users ADD COLUMN notifications INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX users_email ON users (email COLLATE NOCASE);
        CREATE INDEX users_user_name_nocase ON users (user_name COLLATE NOCASE);
        CREATE INDEX phone_links_user ON phone_links (user_id);
        -- Failed linking attempts per account ("user:7") and per phone ("phone:+1...").
        CREATE TABLE auth_lockouts (
            key TEXT PRIMARY KEY,
            failures INTEGER NOT NULL DEFAULT 0,
            window_started_at TEXT,
            locked_until TEXT
        );
        CREATE TABLE subscription_events (
            id INTEGER PRIMARY KEY,
            change TEXT NOT NULL CHECK (change IN
                ('subscribed', 'unsubscribed', 'opted_out', 'opted_in')),
            phone TEXT,
            user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            source TEXT NOT NULL,
            message_sid TEXT,
            body TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX subscription_events_phone ON subscription_events (phone, id);
        CREATE INDEX subscription_events_user ON subscription_events (user_id, id);
        """
    )


@migrations()
def m0005_agents(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- Live agents who sign in to the workspace, and their server-side sessions.
        CREATE TABLE agents (
            id INTEGER PRIMARY KEY,
            user_name TEXT NOT NULL UNIQUE,
            display_name TEXT,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_login_at TEXT
        );
        CREATE TABLE agent_sessions (
            token_hash TEXT PRIMARY KEY,
            agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL
        );
        CREATE INDEX agent_sessions_agent ON agent_sessions (agent_id);
        CREATE INDEX agent_sessions_seen ON agent_sessions (last_seen_at);
        -- Each time a conversation waits for people: queued, accepted by one agent, ended.
        CREATE TABLE agent_queue (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            phone TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'chat' CHECK (kind IN ('chat', 'callback')),
            reason TEXT NOT NULL,
            queued_at TEXT NOT NULL,
            agent_id INTEGER REFERENCES agents(id) ON DELETE SET NULL,
            accepted_at TEXT,
            ended_at TEXT,
            outcome TEXT
                CHECK (outcome IN ('ended', 'transferred', 'timed_out', 'left')),
            CHECK ((ended_at IS NULL) = (outcome IS NULL))
        );
        -- At most one open entry per phone; the queue lists the open ones by age.
        CREATE UNIQUE INDEX agent_queue_open_phone ON agent_queue (phone) WHERE ended_at IS NULL;
        CREATE INDEX agent_queue_open ON agent_queue (ended_at, agent_id, queued_at);
        CREATE INDEX agent_queue_conversation ON agent_queue (conversation_id, id);
        CREATE TABLE agent_notes (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            agent_id INTEGER REFERENCES agents(id) ON DELETE SET NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX agent_notes_conversation ON agent_notes (conversation_id, id);
        """
    )


@migrations()
def m0006_lockout_digests(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- Counters are now keyed by the SHA-256 of their name (never a posted user name) and
        -- purged once expired. Rows of the old form can never match a new key: they go, and
        -- with them any lockout running during the upgrade.
        DELETE FROM auth_lockouts;
        ALTER TABLE auth_lockouts ADD COLUMN expires_at TEXT NOT NULL DEFAULT '';
        CREATE INDEX auth_lockouts_expiry ON auth_lockouts (expires_at);
        """
    )


@migrations()
def m0007_sensitive_answers(db: sqlite_utils.Database) -> None:
    """Answers to sensitive variables stored in clear before they were sealed: forgotten in
    conversations that closed or went to people; in a topic still running, marked, so the
    store seals them at the conversation's next save (or `parley rotate-key` does)."""
    mark_sensitive_answers(db.execute, position_function="instr")


@migrations()
def m0008_media_files(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- Photos themselves (users' fetched media, sandbox and agent uploads), in the database
        -- so that every node serves what any node stored. `name` is the path the instance
        -- folder kept them under before ("media/inbound/12-0.png"): files left there are
        -- imported under it on first read (engine/store/media.py).
        CREATE TABLE media_files (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            message_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            content_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            data BLOB NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX media_files_message ON media_files (message_id);
        """
    )


@migrations()
def m0009_insight(db: sqlite_utils.Database) -> None:
    """Insight: what engine/insight.py records with every message."""
    db.executescript(
        """
        -- Insight (engine/insight.py): counters per topic, version, day, metric, node and
        -- label, added to in the transaction of each message; '' and 0 are the whole bot. A
        -- counter is split in shards (by conversation) where writers run in parallel, so that
        -- messages do not queue for one row's lock; the queries add the shards up.
        CREATE TABLE insight_counts (
            topic_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            day TEXT NOT NULL,
            metric TEXT NOT NULL,
            node TEXT NOT NULL,
            label TEXT NOT NULL,
            shard INTEGER NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (topic_id, version, day, metric, node, label, shard)
        ) WITHOUT ROWID;
        -- The shards of days past, for the worker to fold into one (engine.insight.compact).
        CREATE INDEX insight_counts_shards ON insight_counts (day) WHERE shard <> 0;
        -- What users texted that matched no topic: normalized, digit runs masked.
        CREATE TABLE insight_unanswered (
            day TEXT NOT NULL,
            text TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (day, text)
        ) WITHOUT ROWID;
        -- The nodes and transitions of one message's turn (the conversation's rev then) in one
        -- topic version (part: the order of the versions within the turn).
        CREATE TABLE insight_paths (
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            turn INTEGER NOT NULL,
            part INTEGER NOT NULL,
            topic_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            steps TEXT NOT NULL,
            PRIMARY KEY (conversation_id, turn, part)
        ) WITHOUT ROWID;
        -- The topics each conversation started (written when one starts), to search by topic
        -- (and the conversation's start, so a period is searched without reading conversations).
        CREATE TABLE insight_topic_conversations (
            topic_id TEXT NOT NULL,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            started_at TEXT NOT NULL,
            PRIMARY KEY (topic_id, conversation_id)
        ) WITHOUT ROWID;
        CREATE INDEX insight_topic_conversations_conversation
            ON insight_topic_conversations (conversation_id);
        CREATE INDEX insight_topic_conversations_started
            ON insight_topic_conversations (topic_id, started_at);
        ALTER TABLE conversations ADD COLUMN outcome TEXT;
        ALTER TABLE conversations ADD COLUMN handoff_reason TEXT;
        ALTER TABLE conversations ADD COLUMN resolution_seconds INTEGER;
        CREATE INDEX conversations_started ON conversations (started_at);
        CREATE INDEX conversations_outcome ON conversations (outcome, id);
        CREATE INDEX conversations_user ON conversations (user_id, id);
        """
    )


@migrations()
def m0010_floor(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- The agents' floor (engine/floor.py): the queues an agent serves ('' for every
        -- queue), how many chats at once (NULL: PARLEY_AGENT_CAPACITY), online/busy/away,
        -- and whether they supervise the floor; each queue entry names its queue.
        ALTER TABLE agents ADD COLUMN queues TEXT NOT NULL DEFAULT '';
        ALTER TABLE agents ADD COLUMN capacity INTEGER;
        ALTER TABLE agents ADD COLUMN status TEXT NOT NULL DEFAULT 'online'
            CHECK (status IN ('online', 'busy', 'away'));
        ALTER TABLE agents ADD COLUMN supervisor INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE agent_queue ADD COLUMN queue TEXT NOT NULL DEFAULT 'general';
        CREATE INDEX agent_queue_agent_open ON agent_queue (agent_id, ended_at);
        """
    )


@migrations()
def m0011_insight_keyset(db: sqlite_utils.Database) -> None:
    """Conversation search pages newest first by (started_at, id): each filter's index ends
    with both, so a page (and a period) is one index range whatever the table holds. (A
    phone has a few conversations: its index stays (phone, id).)"""
    db.executescript(KEYSET_INDEXES)


# Shared with engine/store/postgres_schema.py: the same statements on both databases.
KEYSET_INDEXES = """
DROP INDEX conversations_started;
DROP INDEX conversations_outcome;
DROP INDEX conversations_user;
DROP INDEX insight_topic_conversations_started;
CREATE INDEX conversations_started ON conversations (started_at, id);
CREATE INDEX conversations_outcome ON conversations (outcome, started_at, id);
CREATE INDEX conversations_user ON conversations (user_id, started_at, id);
CREATE INDEX insight_topic_conversations_started
    ON insight_topic_conversations (topic_id, started_at, conversation_id);
"""


@migrations()
def m0012_pacing(db: sqlite_utils.Database) -> None:
    """Pacing and quiet hours: outbox costs and holds, users' time zones, sending budgets."""
    db.executescript(
        """
        -- Pacing (engine/pacing.py): what each outbox row costs its sending number, and when
        -- quiet hours hold a notification back (or an urgent category let it through).
        ALTER TABLE outbox ADD COLUMN category TEXT NOT NULL DEFAULT 'reply'
            CHECK (category IN ('reply', 'notification'));
        ALTER TABLE outbox ADD COLUMN segments INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE outbox ADD COLUMN from_number TEXT;
        ALTER TABLE outbox ADD COLUMN held_until TEXT;
        ALTER TABLE outbox ADD COLUMN quiet_bypass TEXT;
        CREATE INDEX outbox_sent_day ON outbox (sent_at);
        -- A user's time zone (IANA name): quiet hours are in the recipient's local time.
        ALTER TABLE users ADD COLUMN time_zone TEXT;
        -- One row per sending number, locked by the sender that claims for it: the next free
        -- slot (epoch seconds), the segments of the current UTC day, and a carrier slow-down.
        CREATE TABLE sending_budgets (
            number TEXT PRIMARY KEY,
            next_slot DOUBLE PRECISION NOT NULL DEFAULT 0,
            day TEXT NOT NULL DEFAULT '',
            day_segments INTEGER NOT NULL DEFAULT 0,
            slow_until DOUBLE PRECISION NOT NULL DEFAULT 0,
            slow_code TEXT,
            slowdowns INTEGER NOT NULL DEFAULT 0
        );
        """
    )


@migrations()
def m0013_insight_path(db: sqlite_utils.Database) -> None:
    """Insight: a conversation's path kept on its own row (see engine/insight.py)."""
    db.executescript(
        """
        -- The nodes and transitions of each message's turn, one JSON line per turn and topic
        -- version ([turn, part, topic_id, version, steps]), appended by the UPDATE that
        -- saves the conversation (no statement of its own). The rows of insight_paths move
        -- there.
        ALTER TABLE conversations ADD COLUMN insight_path TEXT;
        UPDATE conversations SET insight_path = (
            SELECT group_concat(line, '') FROM (
                SELECT json_array(turn, part, topic_id, version, json(steps)) || char(10)
                    AS line
                FROM insight_paths p WHERE p.conversation_id = conversations.id
                ORDER BY turn, part))
        WHERE id IN (SELECT conversation_id FROM insight_paths);
        DROP TABLE insight_paths;
        """
    )


@migrations()
def m0014_staff(db: sqlite_utils.Database) -> None:
    """One staff table for designer authors and live agents, with roles and one session table.

    `agents` becomes `staff` (agent ids stay, so the queue and notes still point at them) and
    `agent_sessions` becomes `staff_sessions`; then each designer user joins, with their
    password hash and live sessions (engine/store/staff.py describes the result)."""
    db.executescript(STAFF_TABLES.format(ref="INTEGER"))
    merge_designer_authors(db.execute)


# m0014 on both databases: `ref` is the dialect's type of a column that refers to an id.
STAFF_TABLES = """
    ALTER TABLE agents RENAME TO staff;
    ALTER TABLE staff ADD COLUMN time_zone TEXT;
    ALTER TABLE staff ADD COLUMN disabled_at TEXT;
    -- What each staff member may do: author (the designer), agent and supervisor (the
    -- agents' workspace).
    CREATE TABLE staff_roles (
        staff_id {ref} NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('author', 'agent', 'supervisor')),
        PRIMARY KEY (staff_id, role)
    );
    INSERT INTO staff_roles (staff_id, role) SELECT id, 'agent' FROM staff;
    -- The floor's supervisor right (m0010) is a role now.
    INSERT INTO staff_roles (staff_id, role) SELECT id, 'supervisor' FROM staff
        WHERE supervisor <> 0;
    ALTER TABLE staff DROP COLUMN supervisor;
    -- A session belongs to the app it was opened in (each has its own cookie).
    ALTER TABLE agent_sessions RENAME TO staff_sessions;
    ALTER TABLE staff_sessions RENAME COLUMN agent_id TO staff_id;
    ALTER TABLE staff_sessions ADD COLUMN app TEXT NOT NULL DEFAULT 'workspace'
        CHECK (app IN ('designer', 'workspace'));
    DROP INDEX agent_sessions_agent;
    DROP INDEX agent_sessions_seen;
    CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);
    CREATE INDEX staff_sessions_seen ON staff_sessions (app, last_seen_at);
"""


def merge_designer_authors(execute) -> None:
    """Designer users become staff with the role author, keeping password hash, last login
    and live sessions; then the designer's own tables go. `execute(sql, params)` takes `?`.

    A designer user whose name an agent already has may not be the same person: they stay
    two accounts, the designer user renamed NAME-designer (NAME-designer-ID if that is taken
    too), so neither loses their password or gets the other's access."""
    authors = execute("SELECT id, user_name, display_name, password_hash, created_at,"
                      " last_login_at FROM designer_authors ORDER BY id").fetchall()
    for author_id, name, display_name, password_hash, created_at, last_login in authors:
        for candidate in (name, f"{name}-designer", f"{name}-designer-{author_id}"):
            if execute("SELECT 1 FROM staff WHERE user_name = ?", (candidate,)).fetchone() \
                    is None:
                break
        staff_id = execute(
            "INSERT INTO staff (user_name, display_name, password_hash, created_at,"
            " last_login_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
            (candidate, display_name, password_hash, created_at, last_login)).fetchone()[0]
        execute("INSERT INTO staff_roles (staff_id, role) VALUES (?, 'author')", (staff_id,))
        execute("INSERT INTO staff_sessions (token_hash, staff_id, created_at, last_seen_at,"
                " app) SELECT token_hash, ?, created_at, last_seen_at, 'designer'"
                " FROM designer_sessions WHERE author_id = ?", (staff_id, author_id))
    execute("DROP TABLE designer_sessions", ())
    execute("DROP TABLE designer_authors", ())


@migrations()
def m0015_notifications(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- The consent ledger's present state: whether a user agrees to a notification
        -- programme, since when and how (the history is subscription_events, by programme).
        -- footer_due: their next notification of it carries the opt-out footer.
        CREATE TABLE consents (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            programme TEXT NOT NULL,
            agreed INTEGER NOT NULL,
            changed_at TEXT NOT NULL,
            source TEXT NOT NULL,
            evidence TEXT,
            footer_due INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (user_id, programme)
        );
        ALTER TABLE subscription_events ADD COLUMN programme TEXT;
        -- Each notification to a recipient: sent, or queued while they are in another
        -- conversation (until wait_until, then expired; refused if consent went meanwhile).
        CREATE TABLE notification_sends (
            id INTEGER PRIMARY KEY,
            batch TEXT NOT NULL,
            template TEXT NOT NULL,
            topic_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            phone TEXT NOT NULL,
            variables TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'expired', 'refused')),
            created_at TEXT NOT NULL,
            wait_until TEXT NOT NULL,
            sent_at TEXT,
            conversation_id INTEGER
        );
        CREATE INDEX notification_sends_queued ON notification_sends (status, phone, id);
        -- Saved recipient lists: a rule as JSON (users with open cases, those who agreed to a
        -- programme, or user names) evaluated when a notification is sent.
        CREATE TABLE segments (
            name TEXT PRIMARY KEY,
            rule TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m0016_agent_desk(db: sqlite_utils.Database) -> None:
    """The agent desk's event log (engine/store/events.py: what agents' pages are pushed)
    and saved replies (shared when agent_id is NULL, else that staff member's own)."""
    db.executescript(
        """
        -- AUTOINCREMENT: an id is never handed out twice, even after pruning the newest.
        CREATE TABLE agent_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            conversation_id INTEGER,
            entry_id INTEGER,
            message_id INTEGER,
            agent_id INTEGER,
            created_at TEXT NOT NULL
        );
        CREATE INDEX agent_events_created ON agent_events (created_at);
        CREATE TABLE saved_replies (
            id INTEGER PRIMARY KEY,
            agent_id INTEGER REFERENCES staff(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX saved_replies_name ON saved_replies (name, agent_id);
        """
    )


@migrations()
def m0017_languages(db: sqlite_utils.Database) -> None:
    """Languages: each conversation's language, and the one each phone and account chose."""
    db.executescript(LANGUAGES_SQL)


@migrations()
def m0018_reply_translations(db: sqlite_utils.Database) -> None:
    """Saved replies gain a text per language."""
    db.executescript(REPLY_TRANSLATIONS_SQL)


@migrations()
def m0019_message_search(db: sqlite_utils.Database) -> None:
    """The agent desk's search finds words in messages through an index, not a scan: an FTS5
    table of trigrams (any three characters, case-blind) over messages' bodies. The worker
    adds new messages to it in batches (Store.index_messages), so the webhook's insert pays
    nothing for it; `messages_search_mark` holds the last message id indexed, and a search
    reads the few messages after it directly, so it misses nothing. The triggers keep the
    index right when an indexed message changes or goes (copying's `replace`). PostgreSQL has
    a pg_trgm index instead (postgres_schema.M0019_MESSAGE_SEARCH). These tables are the
    index's own, never copied between databases (copying.py skips them)."""
    indexed = f"old.id <= (SELECT through FROM {MESSAGE_SEARCH}_mark)"
    db.executescript(f"""
        CREATE VIRTUAL TABLE {MESSAGE_SEARCH} USING fts5(
            body, content='messages', content_rowid='id', tokenize='trigram');
        CREATE TABLE {MESSAGE_SEARCH}_mark (through INTEGER NOT NULL);
        INSERT INTO {MESSAGE_SEARCH}_mark (through) SELECT coalesce(max(id), 0) FROM messages;
        INSERT INTO {MESSAGE_SEARCH} ({MESSAGE_SEARCH}) VALUES ('rebuild');
        CREATE TRIGGER {MESSAGE_SEARCH}_delete AFTER DELETE ON messages WHEN {indexed} BEGIN
            INSERT INTO {MESSAGE_SEARCH} ({MESSAGE_SEARCH}, rowid, body)
            VALUES ('delete', old.id, old.body);
        END;
        CREATE TRIGGER {MESSAGE_SEARCH}_update AFTER UPDATE OF body ON messages
        WHEN {indexed} BEGIN
            INSERT INTO {MESSAGE_SEARCH} ({MESSAGE_SEARCH}, rowid, body)
            VALUES ('delete', old.id, old.body);
            INSERT INTO {MESSAGE_SEARCH} (rowid, body) VALUES (new.id, new.body);
        END;
    """)


# SQLite's full-text index of messages (m0019) and the tables FTS5 keeps for it: an index,
# not part of the schema both databases share.
MESSAGE_SEARCH = "messages_search"


def is_search_index(table: str) -> bool:
    return table == MESSAGE_SEARCH or table.startswith(f"{MESSAGE_SEARCH}_")



@migrations()
def m0020_insight_pending(db: sqlite_utils.Database) -> None:
    """Insight: what each message recorded waits in one appended row until it is folded into
    the counters (see engine/insight.py)."""
    db.executescript(INSIGHT_PENDING_SQL.format(id="INTEGER PRIMARY KEY"))


# The same statements on both databases (engine/store/postgres_schema.py runs them too), with
# the dialect's id column.
INSIGHT_PENDING_SQL = """
    -- Insight (engine/insight.py): one row per message, written in its transaction, holding
    -- what it adds to insight_counts, insight_topic_conversations and insight_unanswered (a
    -- JSON line, then the message's path lines: Store.fold_insight_pending). An append costs
    -- a message one row on one page instead of an upsert of several counter rows on as many
    -- pages. A Recorder every 256 messages, the worker's rounds and the Insight pages (before
    -- they read) fold the rows into those tables and delete them in one transaction, so the
    -- figures stay exact. Existing figures stay where they are.
    CREATE TABLE insight_pending (
        id {id},
        deltas TEXT NOT NULL
    );
"""

# The same statements on both databases (engine/store/postgres_schema.py runs them too).
# A JSON object {"es": "..."}: the reply's text per language; `body` stays the default text.
REPLY_TRANSLATIONS_SQL = """
    ALTER TABLE saved_replies ADD COLUMN translations TEXT;
"""

LANGUAGES_SQL = """
    -- The language a conversation is held in (a code such as 'en' or 'es'); NULL: the
    -- deployment's default.
    ALTER TABLE conversations ADD COLUMN language TEXT;
    -- The language a phone chose (ESPAÑOL, ENGLISH, the LANGUAGE menu), for its next chats.
    CREATE TABLE phone_languages (
        phone TEXT PRIMARY KEY,
        language TEXT NOT NULL,
        chosen_at TEXT NOT NULL
    );
    -- The language a linked account chose: it follows the user to another phone.
    ALTER TABLE users ADD COLUMN language TEXT;
"""


def mark_sensitive_answers(execute, *, position_function: str) -> None:
    """m0007 on either database: `execute(sql, params)` takes `?` placeholders, and
    `position_function` is the dialect's instr (SQLite) or strpos (PostgreSQL)."""
    sensitive: dict[tuple[str, int], list[str]] = {}
    for topic_id, version, document in execute(
            "SELECT topic_id, version, document FROM topic_versions").fetchall():
        variables = json.loads(document).get("variables") or {}
        names = sorted(name for name, spec in variables.items()
                       if isinstance(spec, dict) and spec.get("sensitive"))
        if names:
            sensitive[(topic_id, version)] = names
    if not sensitive:
        return
    rows = execute("SELECT id, state, closed_at FROM conversations"
                   f" WHERE {position_function}(state, ?) = 0", ('"vars":{}',)).fetchall()
    for conversation_id, text, closed_at in rows:
        state = json.loads(text)
        names = sensitive.get((state.get("topic"), state.get("version")))
        if not names or not set(names).intersection(state.get("vars") or {}):
            continue
        sealing.mark_sensitive(state, names)
        if closed_at is not None or state.get("mode") != "topic":
            sealing.drop_sensitive(state)
        execute("UPDATE conversations SET state = ? WHERE id = ?",
                (dumps(state), conversation_id))
