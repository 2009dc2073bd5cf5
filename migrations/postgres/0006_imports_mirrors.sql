-- Import jobs started through the API (any replica answers for them; a running job whose
-- heartbeat stopped was interrupted), namespaces that mirror another repository, and leases:
-- one row per kind of work only one replica may do at a time, claimed atomically.
CREATE TABLE import_jobs (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    summary TEXT,
    error TEXT,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX import_jobs_namespace ON import_jobs (namespace, created_at);

CREATE TABLE mirrors (
    namespace TEXT PRIMARY KEY REFERENCES namespaces (name) ON DELETE CASCADE,
    source TEXT NOT NULL,
    source_url TEXT NOT NULL,
    interval_secs BIGINT NOT NULL,
    prune BOOLEAN NOT NULL,
    next_sync_at BIGINT NOT NULL,
    last_sync_at BIGINT,
    last_outcome TEXT,
    last_message TEXT,
    last_summary TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until BIGINT NOT NULL
);
