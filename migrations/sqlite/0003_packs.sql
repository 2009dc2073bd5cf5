-- Packs: the metadata of every manifest whose layer is a Helm chart or a Sherpack pack, one row
-- per repository and version, gone with its manifest. `metadata` is the pack's JSON
-- (registry_core::pack::PackMeta). Times are Unix milliseconds.
CREATE TABLE packs (
    repository_id BIGINT NOT NULL,
    manifest_digest TEXT NOT NULL,
    repository TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('helm', 'sherpack')),
    archive_digest TEXT NOT NULL,
    archive_size BIGINT NOT NULL,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- The minisign signature, once one arrived: its blob, the key id it names, and
    -- verified (a trusted key of the namespace), unverified (an unknown key) or invalid.
    signature_blob TEXT,
    signature_key TEXT,
    signature_status TEXT CHECK (signature_status IN ('verified', 'unverified', 'invalid')),
    PRIMARY KEY (repository_id, version),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX packs_namespace ON packs (namespace, name);
CREATE INDEX packs_repository ON packs (repository);
