-- Where a blob's bytes are: the objects of the upload that wrote them (JSON, see
-- `BlobLocation`), left in place when the blob was published. NULL: one object named by the
-- digest, as blobs stored before this column have it.
ALTER TABLE blobs ADD COLUMN location TEXT;
