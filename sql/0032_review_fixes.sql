-- Corrections to 0025, 0026 and 0030:
--
-- * appointment_json and conversation_message_json are STABLE (they call the STABLE rfc3339): 0030
--   re-created appointment_json IMMUTABLE, which stops PostgreSQL from inlining it (0006_json_speed)
--   and costs a function call per row of every appointment list.
-- * conversation_reach and conversation_member answer false, never NULL, for a caller whose claims
--   lack a field (a NULL must not read as "allowed" in conversation_get's IF NOT ...).
-- * The conversations list's order (most recent activity first) has an index per audience (a clinic's,
--   a patient's), so a page reads its rows instead of sorting every conversation of the clinic.
-- * A reset also empties the Idempotency-Key replies and the inboxes of the admins it keeps: a replayed
--   key must not answer a record the reset deleted, nor an inbox point at one.
-- * The doctor-ready check skips a session another transaction holds (SKIP LOCKED) instead of waiting
--   for it: the signaling-server's sweep runs it beside video_sweep, which must not stall; the next
--   sweep, a second later, tries again.

ALTER FUNCTION appointment_json(appointments) STABLE;
ALTER FUNCTION conversation_message_json(conversation_messages) STABLE;

CREATE OR REPLACE FUNCTION conversation_reach(c conversations, p_role text, p_clinic bigint, p_doctor bigint,
                                              p_patient bigint)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE(CASE p_role WHEN 'ADMIN' THEN true
                              WHEN 'RECEPTIONIST' THEN c.clinic_id = p_clinic
                              WHEN 'DOCTOR' THEN c.clinic_id = p_clinic AND (c.doctor_id IS NULL OR c.doctor_id = p_doctor)
                              WHEN 'PATIENT' THEN c.patient_id = p_patient
                              ELSE false END, false)
$$;

CREATE OR REPLACE FUNCTION conversation_member(c conversations, p_role text, p_clinic bigint, p_doctor bigint,
                                               p_patient bigint)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE(p_role <> 'ADMIN', false) AND conversation_reach(c, p_role, p_clinic, p_doctor, p_patient)
$$;

CREATE INDEX conversations_clinic_activity_idx
  ON conversations (clinic_id, (COALESCE(last_message_at, created_at)) DESC, id DESC);
CREATE INDEX conversations_patient_activity_idx
  ON conversations (patient_id, (COALESCE(last_message_at, created_at)) DESC, id DESC);

CREATE OR REPLACE FUNCTION installation_tables() RETURNS SETOF regclass
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE fk AS (
    SELECT c.conrelid AS tbl, c.confrelid AS ref, c.confdeltype AS del FROM pg_constraint c
    WHERE c.contype = 'f' AND c.conrelid <> c.confrelid
  ),
  reach (tbl) AS (
    SELECT f.tbl FROM fk f WHERE f.ref IN ('clinics'::regclass, 'users'::regclass)
    UNION
    SELECT f.tbl FROM fk f JOIN reach r ON f.ref = r.tbl
  )
  SELECT r.tbl::regclass FROM reach r
  WHERE r.tbl NOT IN ('clinics'::regclass, 'users'::regclass, 'audit_log'::regclass)
    AND EXISTS (SELECT 1 FROM fk f WHERE f.tbl = r.tbl AND NOT (f.ref = 'users'::regclass AND f.del = 'c'))
  UNION
  SELECT t::regclass FROM (VALUES ('idempotency_keys'), ('notifications')) v (t)
$$;

CREATE OR REPLACE FUNCTION video_doctor_ready_notify(p_session bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  code text := video_invitation_code();
  iid bigint;
BEGIN
  SELECT * INTO s FROM video_sessions WHERE id = p_session FOR UPDATE SKIP LOCKED;
  IF NOT FOUND OR s.status NOT IN ('scheduled', 'waiting') OR s.expires_at <= now() OR s.join_url IS NULL
     OR now() < (SELECT lower(a.period) FROM appointments a WHERE a.id = s.appointment_id)
     OR NOT EXISTS (SELECT 1 FROM video_participants vp WHERE vp.session_id = s.id AND vp.role = 'doctor'
                      AND vp.state = 'joined')
     OR EXISTS (SELECT 1 FROM video_participants vp WHERE vp.session_id = s.id AND vp.role = 'patient'
                  AND vp.state <> 'left') THEN
    RETURN false;
  END IF;
  INSERT INTO video_notices (session_id, kind) VALUES (s.id, 'doctor_ready') ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO video_invitations (session_id, code_hash, expires_at)
  VALUES (s.id, encode(sha256(convert_to(code, 'UTF8')), 'hex'), s.expires_at)
  RETURNING id INTO iid;
  UPDATE video_notices SET invitation_id = iid,
                           channels = video_notice_enqueue(s, 'video_doctor_ready', s.join_url || '?code=' || code, iid)
  WHERE session_id = s.id AND kind = 'doctor_ready';
  RETURN true;
END
$$;
