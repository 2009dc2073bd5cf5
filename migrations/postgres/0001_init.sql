-- Core OCI metadata: repositories, blobs and their links, manifests, tags, upload sessions,
-- and the change sequence that derived views follow. Times are Unix milliseconds.
CREATE TABLE repositories (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest TEXT NOT NULL REFERENCES blobs (digest),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);

CREATE TABLE manifests (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    artifact_type TEXT,
    subject TEXT,
    size BIGINT NOT NULL,
    content BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX manifests_subject ON manifests (repository_id, subject) WHERE subject IS NOT NULL;

CREATE TABLE manifest_refs (
    repository_id BIGINT NOT NULL,
    manifest_digest TEXT NOT NULL,
    ref_digest TEXT NOT NULL,
    ref_kind TEXT NOT NULL CHECK (ref_kind IN ('blob', 'manifest')),
    PRIMARY KEY (repository_id, manifest_digest, ref_digest),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_refs_ref ON manifest_refs (ref_digest);

CREATE TABLE tags (
    repository_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);

CREATE TABLE upload_sessions (
    id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    received BIGINT NOT NULL,
    state BYTEA NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX upload_sessions_updated ON upload_sessions (updated_at);

CREATE TABLE changes (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    repository TEXT NOT NULL,
    digest TEXT,
    tag TEXT,
    at BIGINT NOT NULL
);
