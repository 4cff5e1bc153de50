-- Invariants the database keeps that earlier migrations left to the code, and the end of a clinic's day.
--
-- 1. A user's role matches their link: a DOCTOR user has exactly one doctor record, a PATIENT user
--    exactly one patient record, an ADMIN or RECEPTIONIST none. Checked at commit (deferred
--    constraint triggers on users, doctors and patients), so a user and its record may be written
--    by two statements of one transaction. The API never breaks it; a write that would is refused
--    at COMMIT with SQLSTATE 23000 (a 500, and a line in the log: it is a bug).
-- 2. The last active admin cannot be deactivated (nor lose the role, nor be deleted): 55000 with a
--    HINT, a 409. Deactivations of admins take one transaction-level advisory lock after their row
--    lock and count the other active admins with a snapshot taken after it, so two admins who
--    deactivate each other at the same moment cannot both succeed: the second to get the lock sees
--    the first's commit. Only the row being deactivated is locked (never another admin's row), so
--    two such transactions cannot deadlock.
-- 3. is_valid_timezone reads pg_timezone_names, which can change with the server's time zone data:
--    it is STABLE, not IMMUTABLE. The CHECK on clinics.timezone keeps working (PostgreSQL allows a
--    non-immutable CHECK; it is evaluated when a row is written); nothing IMMUTABLE and no index
--    may depend on it, which this migration verifies.
-- 4. The end of a clinic's day (docs/ARCHITECTURE.md §6): visits still waiting or called when their queue day is
--    over in the clinic's time zone leave the queue, `left` with left_reason 'day_ended'
--    (visits_end_day, which the signaling-server's periodic housekeeping calls every few seconds);
--    a visit the desk marks left has left_reason 'patient_left'. A visit that leaves closes its
--    checked-in appointment: checked_in -> no_show, announced as appointment_updated (the
--    consultation did not happen; the visit's left_reason says why). A video appointment whose visit
--    left during its day (the desk, or its session cancelled or expired) stays checked in, as it may
--    get a new session that day; the end of its day closes it.

-- 1. Role and link ----------------------------------------------------------------------------------------------

-- Raises unless user p_user (if it still exists) has the doctor and patient records its role calls for.
CREATE FUNCTION user_role_link_check(p_user bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  r text;
  doctors_n integer;
  patients_n integer;
BEGIN
  SELECT u.role INTO r FROM users u WHERE u.id = p_user;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  SELECT count(*) INTO doctors_n FROM doctors d WHERE d.user_id = p_user;
  SELECT count(*) INTO patients_n FROM patients p WHERE p.user_id = p_user;
  IF doctors_n <> (r = 'DOCTOR')::integer OR patients_n <> (r = 'PATIENT')::integer THEN
    RAISE EXCEPTION 'user % (%) has % doctor and % patient records', p_user, r, doctors_n, patients_n
      USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'users_role_link_check',
            DETAIL = 'A DOCTOR user has exactly one doctor record, a PATIENT user one patient record, others none.';
  END IF;
END
$$;

CREATE FUNCTION users_role_link_deferred() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.user_id IS NOT NULL THEN
    PERFORM user_role_link_check(OLD.user_id);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.user_id IS NOT NULL THEN
    PERFORM user_role_link_check(NEW.user_id);
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION users_role_link_self() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM user_role_link_check(NEW.id);
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER users_role_link AFTER INSERT OR UPDATE OF role ON users
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION users_role_link_self();
CREATE CONSTRAINT TRIGGER doctors_role_link AFTER INSERT OR UPDATE OF user_id OR DELETE ON doctors
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION users_role_link_deferred();
CREATE CONSTRAINT TRIGGER patients_role_link AFTER INSERT OR UPDATE OF user_id OR DELETE ON patients
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION users_role_link_deferred();

-- The rows already there must hold it too (the migration fails, naming a user, otherwise).
DO $$
DECLARE
  u bigint;
BEGIN
  FOR u IN SELECT id FROM users ORDER BY id LOOP
    PERFORM user_role_link_check(u);
  END LOOP;
END
$$;

-- 2. The last active admin ---------------------------------------------------------------------------------------

CREATE FUNCTION users_keep_an_admin() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.role <> 'ADMIN' OR NOT OLD.active
     OR (TG_OP = 'UPDATE' AND NEW.role = 'ADMIN' AND NEW.active) THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  -- The same key for every such change; released at the end of the transaction.
  PERFORM pg_advisory_xact_lock(hashtext('users_keep_an_admin'));
  -- A new statement, so a new snapshot: it sees a concurrent deactivation that committed while we waited.
  IF NOT EXISTS (SELECT 1 FROM users u WHERE u.role = 'ADMIN' AND u.active AND u.id <> OLD.id) THEN
    RAISE EXCEPTION 'user % is the last active admin', OLD.id
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'This is the last active admin account; it cannot be deactivated.';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER users_keep_an_admin BEFORE UPDATE OF active, role OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION users_keep_an_admin();

-- 3. is_valid_timezone -------------------------------------------------------------------------------------------

ALTER FUNCTION is_valid_timezone(text) STABLE PARALLEL SAFE;

DO $$
DECLARE
  what text;
BEGIN
  SELECT string_agg(x, ', ') INTO what FROM (
    SELECT 'function ' || p.oid::regprocedure::text AS x FROM pg_proc p
    WHERE p.provolatile = 'i' AND p.prosrc ~ 'is_valid_timezone' AND p.proname <> 'is_valid_timezone'
    UNION ALL
    SELECT 'index ' || i.indexrelid::regclass::text FROM pg_index i
    WHERE pg_get_indexdef(i.indexrelid) ~ 'is_valid_timezone'
    UNION ALL
    SELECT 'column ' || a.attrelid::regclass::text || '.' || a.attname FROM pg_attrdef d
    JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
    WHERE a.attgenerated = 's' AND pg_get_expr(d.adbin, d.adrelid) ~ 'is_valid_timezone') s;
  IF what IS NOT NULL THEN
    RAISE EXCEPTION 'is_valid_timezone is STABLE, but these need it IMMUTABLE: %', what;
  END IF;
END
$$;

-- 4. The end of a clinic's day -----------------------------------------------------------------------------------

ALTER TABLE visits ADD COLUMN left_reason text CONSTRAINT visits_left_reason_check
  CHECK (left_reason IN ('patient_left', 'day_ended'));
UPDATE visits SET left_reason = 'patient_left' WHERE status = 'left';
ALTER TABLE visits ADD CONSTRAINT visits_left_reason_status_check CHECK ((left_reason IS NOT NULL) = (status = 'left'));

-- Why a visit left: the sweep says day_ended; anything else that makes it left is the desk recording
-- that the patient went away.
CREATE FUNCTION visits_left_reason() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.left_reason := CASE WHEN NEW.status = 'left' THEN COALESCE(NEW.left_reason, 'patient_left') END;
  RETURN NEW;
END
$$;
CREATE TRIGGER visits_left_reason BEFORE UPDATE OF status ON visits
  FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status) EXECUTE FUNCTION visits_left_reason();

-- The open visits of past days, found without reading the rest.
CREATE INDEX visits_open_day_idx ON visits (queue_date, clinic_id) WHERE status IN ('waiting', 'called');

-- Closes checked-in appointment p_id as a no-show (the consultation did not happen), announced.
CREATE FUNCTION appointment_close_unseen(p_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  a appointments;
BEGIN
  UPDATE appointments SET status = 'no_show' WHERE id = p_id AND status = 'checked_in' RETURNING * INTO a;
  IF FOUND THEN
    PERFORM emit_appointment_event('appointment_updated', a);
  END IF;
END
$$;

-- A visit that leaves the queue closes its checked-in appointment: checked_in -> no_show; a video
-- one only once its day is over (until then the appointment may get a new video session).
CREATE FUNCTION visits_close_appointment() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM appointment_close_unseen(NEW.appointment_id);
  RETURN NULL;
END
$$;
CREATE TRIGGER visits_close_appointment AFTER UPDATE OF status ON visits FOR EACH ROW
  WHEN (NEW.status = 'left' AND OLD.status <> 'left' AND NEW.appointment_id IS NOT NULL
        AND (NEW.consultation_type = 'in_person' OR NEW.left_reason = 'day_ended'))
  EXECUTE FUNCTION visits_close_appointment();

-- The checked-in appointments, few at any time, found without reading the others.
CREATE INDEX appointments_checked_in_idx ON appointments (id) WHERE status = 'checked_in';

-- Every visit still waiting or called on a queue day that is over in its clinic's zone leaves the
-- queue (left, day_ended), with its events and an audit row without actor, and the video
-- appointments whose visit left during that day are closed. Returns how many visits and
-- appointments changed. One sweep at a time (another returns 0 at once); a row another transaction
-- is changing right now is left to the next sweep. Called by the signaling-server's housekeeping.
CREATE FUNCTION visits_end_day() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  m integer := 0;
  a bigint;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('visits_end_day')) THEN
    RETURN 0;
  END IF;
  WITH due AS (
    SELECT v.id FROM visits v JOIN clinics c ON c.id = v.clinic_id
    WHERE v.status IN ('waiting', 'called') AND v.queue_date < (now() AT TIME ZONE c.timezone)::date
    ORDER BY v.id
    FOR UPDATE OF v SKIP LOCKED
  ),
  moved AS (
    UPDATE visits v SET status = 'left', left_at = now(), left_reason = 'day_ended', updated_by = NULL
    FROM due WHERE v.id = due.id
    RETURNING v.id, v.queue_date
  )
  INSERT INTO audit_log (action, entity, entity_id, details)
  SELECT 'visit_day_ended', 'visit', m.id, jsonb_build_object('queue_date', to_char(m.queue_date, 'YYYY-MM-DD'))
  FROM moved m;
  GET DIAGNOSTICS n = ROW_COUNT;
  FOR a IN SELECT ap.id FROM appointments ap
           JOIN visits v ON v.appointment_id = ap.id JOIN clinics c ON c.id = v.clinic_id
           WHERE ap.status = 'checked_in' AND v.status = 'left'
             AND v.queue_date < (now() AT TIME ZONE c.timezone)::date
           ORDER BY ap.id FOR UPDATE OF ap SKIP LOCKED LOOP
    PERFORM appointment_close_unseen(a);
    m := m + 1;
  END LOOP;
  RETURN n + m;
END
$$;

-- The visit as the API shows it, now with why it left.
CREATE OR REPLACE FUNCTION visit_json(v visits) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'id', v.id, 'clinic_id', v.clinic_id, 'patient_id', v.patient_id, 'doctor_id', v.doctor_id,
    'service_id', v.service_id, 'appointment_id', v.appointment_id, 'consultation_type', v.consultation_type,
    'status', v.status, 'phase', visit_phase(v.status), 'queue_date', to_char(v.queue_date, 'YYYY-MM-DD'),
    'queue_number', v.queue_number, 'check_in_time', rfc3339(v.check_in_time), 'called_at', rfc3339(v.called_at),
    'start_time', rfc3339(v.start_time), 'end_time', rfc3339(v.end_time), 'left_at', rfc3339(v.left_at),
    'left_reason', v.left_reason, 'notes', v.notes, 'created_at', rfc3339(v.created_at),
    'updated_at', rfc3339(v.updated_at))
$$;

-- A transition, with the reason of a move to left (a visit leaves once, so it is the visit's).
CREATE OR REPLACE FUNCTION visit_transition_json(t visit_transitions) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', t.id, 'visit_id', t.visit_id, 'from_status', t.from_status, 'to_status', t.to_status,
    'actor_user_id', t.actor_user_id, 'actor_role', t.actor_role,
    'actor_name', (SELECT u.full_name FROM users u WHERE u.id = t.actor_user_id), 'at', rfc3339(t.at),
    'reason', CASE WHEN t.to_status = 'left' THEN (SELECT v.left_reason FROM visits v WHERE v.id = t.visit_id) END)
$$;
