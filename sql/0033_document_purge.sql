-- Soft-deleted documents past document_restore's 30 days are deleted for good, with their chunks, and
-- their bytes are given back to the clinic's storage (0028 kept them, and counted them against the
-- quota, until now). The clinic's next upload purges them first (api-server/h_documents.c, a statement
-- of its own before the upload's transaction, so a purge stands even when that upload is then refused
-- over quota), a bounded batch at a time. The soft delete and its audit row stay the record of the
-- deletion.

CREATE INDEX documents_deleted_idx ON documents (clinic_id, deleted_at) WHERE deleted_at IS NOT NULL;

-- Deletes up to p_limit documents of clinic p_clinic deleted more than 30 days ago (rows another
-- transaction holds are left for the next time) and takes their bytes off clinic_storage. Returns how
-- many were purged.
CREATE FUNCTION document_purge(p_clinic bigint, p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  freed bigint;
BEGIN
  WITH gone AS (
    DELETE FROM documents d
     WHERE d.id IN (SELECT x.id FROM documents x
                     WHERE x.clinic_id = p_clinic AND x.deleted_at < now() - interval '30 days'
                     ORDER BY x.deleted_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
    RETURNING d.size_bytes)
  SELECT count(*), COALESCE(sum(size_bytes), 0) INTO n, freed FROM gone;
  IF n > 0 THEN
    UPDATE clinic_storage SET used_bytes = greatest(used_bytes - freed, 0) WHERE clinic_id = p_clinic;
  END IF;
  RETURN n;
END
$$;
