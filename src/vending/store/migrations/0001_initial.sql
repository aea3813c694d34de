-- Initial schema. `{id}` becomes the dialect's auto-increment primary key.
-- Times are milliseconds since the Unix epoch; money is integer cents.

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    uid TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('buyer', 'seller')),
    password_hash TEXT,
    deposit BIGINT NOT NULL DEFAULT 0 CHECK (deposit >= 0),
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);

CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX auth_tokens_by_uid ON auth_tokens (uid);

CREATE TABLE products (
    id {id},
    uid TEXT NOT NULL UNIQUE,
    seller_uid TEXT NOT NULL,
    product_name TEXT NOT NULL,
    cost BIGINT NOT NULL CHECK (cost > 0),
    amount BIGINT NOT NULL CHECK (amount >= 0),
    created_at BIGINT NOT NULL
);
CREATE INDEX products_by_seller ON products (seller_uid, id);

-- Every money or stock change, so that balances and stock can be recomputed.
CREATE TABLE ledger (
    id {id},
    req_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    uid TEXT,
    product_uid TEXT,
    deposit_delta BIGINT NOT NULL DEFAULT 0,
    stock_delta BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX ledger_by_uid ON ledger (uid);
CREATE INDEX ledger_by_product ON ledger (product_uid);

-- Per-account ordering: the gateway takes `next_seq` when it enqueues, and a worker applies
-- sequence number n only when `done_seq` is n - 1.
CREATE TABLE order_keys (
    okey TEXT PRIMARY KEY,
    next_seq BIGINT NOT NULL,
    done_seq BIGINT NOT NULL
);

-- The three FIFO queues (auth.fifo, deposit.fifo, post.fifo) share one table. A row leaves
-- the table in the transaction that stores its status.
CREATE TABLE queue (
    id {id},
    queue TEXT NOT NULL,
    req_id TEXT NOT NULL UNIQUE,
    okey TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    wsess_id TEXT,
    accepted_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX queue_by_name ON queue (queue, id);

-- Requests that kept failing, set aside with their last error.
CREATE TABLE dead_letters (
    req_id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    okey TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    failed_at BIGINT NOT NULL
);

CREATE TABLE statuses (
    req_id TEXT PRIMARY KEY,
    okey TEXT NOT NULL,
    wsess_id TEXT,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX statuses_by_created ON statuses (created_at);

-- Seed-protocol web sessions. `token` is the one place a plain token is kept, because the
-- protocol's `get` hands it back.
CREATE TABLE web_sessions (
    wsess_id TEXT PRIMARY KEY,
    token TEXT,
    token_hash TEXT,
    uid TEXT,
    last_auth_req TEXT,
    failed_code TEXT,
    created_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_by_seen ON web_sessions (seen_at);
CREATE INDEX web_sessions_by_token ON web_sessions (token_hash);

-- Register and login requests of sessions still in a queue, with the token that joins the
-- session on success (NULL for a request the gateway already rejected).
CREATE TABLE pending_tokens (
    req_id TEXT PRIMARY KEY,
    wsess_id TEXT NOT NULL,
    token TEXT
);

CREATE TABLE login_failures (
    id {id},
    okey TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_by_okey ON login_failures (okey, at);
CREATE INDEX login_failures_by_addr ON login_failures (client_addr, at);

CREATE TABLE idempotency_keys (
    scope TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    req_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created_at);
