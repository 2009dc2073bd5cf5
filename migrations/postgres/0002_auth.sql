-- Auth and multi-tenancy: users, namespaces and their members, API tokens (hashes only),
-- trusted signing keys, namespace policies, the audit log, and registry-wide settings (the
-- token-signing secret every replica shares). Times are Unix milliseconds.
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE namespaces (
    name TEXT PRIMARY KEY,
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    policy TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE namespace_members (
    namespace TEXT NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
    username TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
    PRIMARY KEY (namespace, username)
);
CREATE INDEX namespace_members_user ON namespace_members (username);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    namespace TEXT REFERENCES namespaces (name) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_owner ON api_tokens (owner);

CREATE TABLE signing_keys (
    namespace TEXT NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, id),
    UNIQUE (namespace, name)
);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    address TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
