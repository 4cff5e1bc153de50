-- Files (DESIGN §11, docs/ARCHITECTURE.md "Files"): patient documents and user photos, kept in
-- PostgreSQL so the backup covers them. A document's bytes are rows of document_chunks of a fixed
-- size (the last one shorter), written with its metadata, the clinic's storage count and the audit
-- row in one transaction by api-server/h_documents.c; a download reads one chunk at a time.
--
-- Who reads a document is decided once, by document_access; the clinic's storage in use is kept
-- by clinic_storage, which the upload reserves under its row lock so two uploads cannot both pass a
-- quota that fits one. Soft-deleted documents keep their bytes (and their storage) until purged;
-- an admin may restore one within 30 days (document_restore).
--
-- Triggers: none on these tables (the storage count is written by the upload statement itself).

CREATE TABLE documents (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  clinic_id            bigint NOT NULL REFERENCES clinics (id) ON DELETE RESTRICT,
  patient_id           bigint NOT NULL,
  visit_id             bigint REFERENCES visits (id) ON DELETE RESTRICT,
  title                text NOT NULL CONSTRAINT documents_title_check CHECK (char_length(title) BETWEEN 1 AND 200),
  file_name            text NOT NULL CONSTRAINT documents_file_name_check
                         CHECK (char_length(file_name) BETWEEN 1 AND 255 AND file_name !~ '[/\\[:cntrl:]]'),
  content_type         text NOT NULL CONSTRAINT documents_content_type_check
                         CHECK (content_type IN ('application/pdf', 'image/png', 'image/jpeg', 'image/webp')),
  size_bytes           bigint NOT NULL CONSTRAINT documents_size_bytes_check CHECK (size_bytes > 0),
  chunk_bytes          integer NOT NULL CONSTRAINT documents_chunk_bytes_check CHECK (chunk_bytes > 0),
  sha256               bytea NOT NULL CONSTRAINT documents_sha256_check CHECK (octet_length(sha256) = 32),
  shared_with_patient  boolean NOT NULL DEFAULT false,
  uploaded_by          bigint NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  uploaded_role        text NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  deleted_at           timestamptz,
  deleted_by           bigint REFERENCES users (id) ON DELETE RESTRICT,
  CONSTRAINT documents_patient_clinic_fkey FOREIGN KEY (patient_id, clinic_id)
    REFERENCES patients (id, clinic_id) ON DELETE RESTRICT,
  CONSTRAINT documents_deleted_check CHECK ((deleted_at IS NULL) = (deleted_by IS NULL))
);
CREATE INDEX documents_patient_idx ON documents (patient_id, id) WHERE deleted_at IS NULL;
-- The same file uploaded again for the same patient is the same document.
CREATE UNIQUE INDEX documents_patient_sha256_key ON documents (patient_id, sha256) WHERE deleted_at IS NULL;

CREATE TABLE document_chunks (
  document_id  bigint NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  seq          integer NOT NULL CONSTRAINT document_chunks_seq_check CHECK (seq >= 0),
  data         bytea NOT NULL CONSTRAINT document_chunks_data_check CHECK (octet_length(data) > 0),
  PRIMARY KEY (document_id, seq)
);
-- The bytes are already compressed (PDF streams, PNG, JPEG, WebP): do not try again.
ALTER TABLE document_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- Bytes of documents each clinic stores (soft-deleted ones included: their bytes are still here).
CREATE TABLE clinic_storage (
  clinic_id   bigint PRIMARY KEY REFERENCES clinics (id) ON DELETE CASCADE,
  used_bytes  bigint NOT NULL DEFAULT 0 CONSTRAINT clinic_storage_used_bytes_check CHECK (used_bytes >= 0)
);

-- Adds p_bytes to clinic p_clinic's storage when the total stays within p_quota: true when
-- reserved, false when over quota. The row lock held until the caller's COMMIT serialises uploads
-- of one clinic, so two that each fit alone cannot both pass when together they do not.
CREATE FUNCTION clinic_storage_reserve(p_clinic bigint, p_bytes bigint, p_quota bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  used bigint;
BEGIN
  INSERT INTO clinic_storage (clinic_id) VALUES (p_clinic) ON CONFLICT (clinic_id) DO NOTHING;
  SELECT s.used_bytes INTO used FROM clinic_storage s WHERE s.clinic_id = p_clinic FOR UPDATE;
  IF used + p_bytes > p_quota THEN
    RETURN false;
  END IF;
  UPDATE clinic_storage SET used_bytes = used_bytes + p_bytes WHERE clinic_id = p_clinic;
  RETURN true;
END
$$;

-- What a reader may do with document d: 'full' (metadata and content), 'meta' (metadata only) or
-- 'none' (it does not exist for them: 404). The one owner of the documents' read rule:
--   ADMIN: every document; a receptionist: the metadata of their clinic's documents (clinical
--   content is not theirs, role_reads_clinical); a doctor of the clinic: the documents of their
--   patients (a visit or an appointment with them, as GET /doctors/patients decides) and those
--   they uploaded; a patient: their own documents shared with them or uploaded by them.
-- Soft-deleted documents exist for admins only.
CREATE FUNCTION document_access(d documents, p_role text, p_user bigint, p_clinic bigint, p_doctor bigint,
                                p_patient bigint) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN p_role = 'ADMIN' THEN 'full'
    WHEN d.deleted_at IS NOT NULL THEN 'none'
    WHEN p_role = 'PATIENT' THEN
      CASE WHEN d.patient_id = p_patient AND (d.shared_with_patient OR d.uploaded_by = p_user)
           THEN 'full' ELSE 'none' END
    WHEN d.clinic_id IS DISTINCT FROM p_clinic THEN 'none'
    WHEN p_role = 'DOCTOR' THEN
      CASE WHEN d.uploaded_by = p_user
             OR EXISTS (SELECT 1 FROM visits v WHERE v.patient_id = d.patient_id AND v.doctor_id = p_doctor)
             OR EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = d.patient_id AND a.doctor_id = p_doctor)
           THEN 'full' ELSE 'none' END
    WHEN p_role = 'RECEPTIONIST' THEN 'meta'
    ELSE 'none' END
$$;

CREATE FUNCTION document_json(d documents) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', d.id, 'clinic_id', d.clinic_id, 'patient_id', d.patient_id, 'visit_id', d.visit_id,
    'title', d.title, 'file_name', d.file_name, 'content_type', d.content_type, 'size_bytes', d.size_bytes,
    'sha256', encode(d.sha256, 'hex'), 'shared_with_patient', d.shared_with_patient,
    'uploaded_by', d.uploaded_by, 'uploaded_role', d.uploaded_role, 'created_at', rfc3339(d.created_at),
    'deleted_at', rfc3339(d.deleted_at),
    'content_url', '/documents/' || d.id || '/content')
$$;

-- Restores soft-deleted document p_id: 404 (CL002) when there is no such deleted document, 410
-- (CL003) when it was deleted more than 30 days ago, 409 when the same file was uploaded again
-- for the patient meanwhile (documents_patient_sha256_key).
CREATE FUNCTION document_restore(p_id bigint) RETURNS documents
LANGUAGE plpgsql AS $$
DECLARE
  d documents;
BEGIN
  SELECT * INTO d FROM documents WHERE id = p_id AND deleted_at IS NOT NULL FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM raise_not_found('deleted document');
  END IF;
  IF d.deleted_at < now() - interval '30 days' THEN
    RAISE EXCEPTION 'document % deleted too long ago', p_id USING ERRCODE = 'CL003',
      HINT = 'The document was deleted more than 30 days ago and can no longer be restored.';
  END IF;
  UPDATE documents SET deleted_at = NULL, deleted_by = NULL WHERE id = p_id RETURNING * INTO d;
  RETURN d;
END
$$;

-- Photos of users: one a user, replaced in one statement (the old bytes go with the row).
CREATE TABLE user_photos (
  user_id       bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  content_type  text NOT NULL CONSTRAINT user_photos_content_type_check
                  CHECK (content_type IN ('image/png', 'image/jpeg', 'image/webp')),
  size_bytes    integer NOT NULL CONSTRAINT user_photos_size_bytes_check CHECK (size_bytes > 0),
  sha256        bytea NOT NULL CONSTRAINT user_photos_sha256_check CHECK (octet_length(sha256) = 32),
  data          bytea NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE user_photos ALTER COLUMN data SET STORAGE EXTERNAL;

-- Where a user's photo is read (under the API prefix), or NULL when they have none.
CREATE FUNCTION user_photo_url(p_user bigint) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT '/users/' || ph.user_id || '/photo' FROM user_photos ph WHERE ph.user_id = p_user
$$;

-- photo_url in the user, doctor and patient reads: each read function is wrapped, so whatever an
-- earlier migration made of it is kept and the photo is added on top.
ALTER FUNCTION user_json(users) RENAME TO user_json_without_photo;
CREATE FUNCTION user_json(u users) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT user_json_without_photo(u) || jsonb_build_object('photo_url', user_photo_url(u.id))
$$;
ALTER FUNCTION doctor_json(doctors) RENAME TO doctor_json_without_photo;
CREATE FUNCTION doctor_json(d doctors) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT doctor_json_without_photo(d) || jsonb_build_object('photo_url', user_photo_url(d.user_id))
$$;
ALTER FUNCTION doctor_public_json(doctors) RENAME TO doctor_public_json_without_photo;
CREATE FUNCTION doctor_public_json(d doctors) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT doctor_public_json_without_photo(d) || jsonb_build_object('photo_url', user_photo_url(d.user_id))
$$;
ALTER FUNCTION patient_json(patients) RENAME TO patient_json_without_photo;
CREATE FUNCTION patient_json(p patients) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT patient_json_without_photo(p) || jsonb_build_object('photo_url', user_photo_url(p.user_id))
$$;

-- Whether a caller (role, user id, clinic) sees user p_target's photo: admins every photo, anyone
-- their own and admins'; staff their clinic's users; a patient their clinic's staff.
CREATE FUNCTION user_photo_visible(p_target bigint, p_role text, p_user bigint, p_clinic bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT p_role = 'ADMIN' OR p_target = p_user OR EXISTS (
    SELECT 1 FROM users t WHERE t.id = p_target AND (t.role = 'ADMIN' OR (t.clinic_id = p_clinic
      AND (p_role <> 'PATIENT' OR t.role <> 'PATIENT'))))
$$;
