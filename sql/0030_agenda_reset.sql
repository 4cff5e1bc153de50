-- The doctor's own agenda and the installation reset (docs/ARCHITECTURE.md §6 and §16):
--
-- 1. The appointment state machine is the table appointment_moves, checked by the trigger
--    appointments_transition on every status change, whatever writes it (CL001 naming from and to), as
--    visit_moves is for visits. The moves `requested` -> `confirmed` (appointment_confirm) and
--    `requested` -> `cancelled` (appointment_decline) are new users of it.
-- 2. A clinic may require its bookings to be confirmed (clinics.booking_requires_confirmation, default
--    false): then a patient's own booking starts `requested` (trigger appointments_request), holds its
--    slot like a confirmed one (the overlap constraints count requested appointments), and the patient
--    gets the booking confirmation when the doctor or the desk confirms it (appointments_notify_patient,
--    sql/0021, already sends it on requested -> confirmed; a decline sends the cancellation notice).
-- 3. Who cancelled may now be `doctor` (the doctor's own cancellation or decline); a reschedule keeps its
--    reason (reschedule_reason, required from a doctor); a doctor's reason travels in the event to the
--    doctor's and patient's rooms (emit_appointment_event with a reason), never to the clinic's.
-- 4. installation_reset deletes every clinic record in one transaction, keeping the admin accounts and
--    the audit log, and tells every signaling-server to close its connections (NOTIFY installation_reset).

-- 1. The appointment state machine -------------------------------------------------------------------------------

CREATE TABLE appointment_moves (
  from_status  text NOT NULL,
  to_status    text NOT NULL,
  PRIMARY KEY (from_status, to_status),
  CONSTRAINT appointment_moves_from_status_check
    CHECK (from_status IN ('requested', 'confirmed', 'checked_in', 'completed', 'cancelled', 'no_show')),
  CONSTRAINT appointment_moves_to_status_check
    CHECK (to_status IN ('requested', 'confirmed', 'checked_in', 'completed', 'cancelled', 'no_show'))
);
INSERT INTO appointment_moves (from_status, to_status) VALUES
  ('requested', 'confirmed'), ('requested', 'cancelled'),
  ('confirmed', 'checked_in'), ('confirmed', 'cancelled'), ('confirmed', 'no_show'),
  ('checked_in', 'completed'), ('checked_in', 'no_show');
COMMENT ON TABLE appointment_moves IS
  'The appointment state machine: the only moves an appointment may make (checked by trigger appointments_transition).';

-- Raises CL001 unless appointment p_id may move from p_from to p_to (staying in a status is no move).
CREATE FUNCTION appointment_assert_move(p_id bigint, p_from text, p_to text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM appointment_moves m WHERE m.from_status = p_from AND m.to_status = p_to) THEN
    RAISE EXCEPTION 'appointment % cannot go from % to %', p_id, p_from, p_to
      USING ERRCODE = 'CL001', DETAIL = json_build_object('from', p_from, 'to', p_to)::text,
            HINT = format('The appointment is %s; it cannot become %s.', replace(p_from, '_', ' '),
                          replace(p_to, '_', ' '));
  END IF;
END
$$;

-- The one check of an appointment's move: every UPDATE that changes status must be a move of appointment_moves.
CREATE FUNCTION appointments_guard_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM appointment_assert_move(OLD.id, OLD.status, NEW.status);
  RETURN NEW;
END
$$;
CREATE TRIGGER appointments_transition BEFORE UPDATE OF status ON appointments FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status) EXECUTE FUNCTION appointments_guard_transition();

-- 2. Bookings that wait for the clinic's confirmation ------------------------------------------------------------

ALTER TABLE clinics ADD COLUMN booking_requires_confirmation boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION clinic_json(c clinics) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', c.id, 'name', c.name, 'timezone', c.timezone, 'currency', c.currency,
                            'language', c.language, 'booking_requires_confirmation', c.booking_requires_confirmation,
                            'created_at', rfc3339(c.created_at))
$$;

-- A patient's own booking in a clinic that requires confirmation starts requested; staff bookings are
-- the clinic's own and start confirmed.
CREATE FUNCTION appointments_request() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'confirmed'
     AND (SELECT c.booking_requires_confirmation FROM clinics c WHERE c.id = NEW.clinic_id)
     AND (SELECT u.role FROM users u WHERE u.id = NEW.created_by) = 'PATIENT' THEN
    NEW.status := 'requested';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER appointments_request BEFORE INSERT ON appointments FOR EACH ROW EXECUTE FUNCTION appointments_request();

-- 3. Who and why -------------------------------------------------------------------------------------------------

ALTER TABLE appointments DROP CONSTRAINT appointments_cancelled_by_check,
  ADD CONSTRAINT appointments_cancelled_by_check CHECK (cancelled_by IN ('patient', 'clinic', 'doctor')),
  ADD COLUMN reschedule_reason text CONSTRAINT appointments_reschedule_reason_check
    CHECK (char_length(reschedule_reason) BETWEEN 1 AND 500);

CREATE OR REPLACE FUNCTION appointment_json(a appointments) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'id', a.id, 'clinic_id', a.clinic_id, 'patient_id', a.patient_id, 'doctor_id', a.doctor_id,
    'service_id', a.service_id, 'consultation_type', a.consultation_type, 'status', a.status,
    'start_time', rfc3339(lower(a.period)), 'end_time', rfc3339(upper(a.period)), 'notes', a.notes,
    'cancel_reason', a.cancel_reason, 'cancelled_by', a.cancelled_by, 'cancelled_at', rfc3339(a.cancelled_at),
    'reschedule_reason', a.reschedule_reason, 'created_at', rfc3339(a.created_at), 'updated_at', rfc3339(a.updated_at))
$$;

-- An appointment event to its clinic, doctor and patient rooms. With a reason (a doctor's own change:
-- their explanation to their patient), two copies: the doctor's and patient's rooms get it with
-- `reason`, the clinic's room (everyone else) without, as clinic broadcasts carry no details.
CREATE FUNCTION emit_appointment_event(p_name text, a appointments, p_reason text) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO events (name, rooms, except_rooms, data)
  SELECT p_name, r.rooms, r.except_rooms, d.data || r.extra
  FROM (SELECT jsonb_build_object(
          'appointment', jsonb_build_object(
            'id', a.id, 'clinic_id', a.clinic_id, 'doctor_id', a.doctor_id, 'patient_id', a.patient_id,
            'service_id', a.service_id, 'consultation_type', a.consultation_type, 'status', a.status,
            'start_time', rfc3339(lower(a.period)), 'end_time', rfc3339(upper(a.period))),
          'patient_label', (SELECT patient_label(p.full_name) FROM patients p WHERE p.id = a.patient_id)) AS data) d,
       LATERAL (SELECT ARRAY['clinic:' || a.clinic_id, 'doctor:' || a.doctor_id, 'patient:' || a.patient_id] AS rooms,
                       '{}'::text[] AS except_rooms, '{}'::jsonb AS extra
                WHERE p_reason IS NULL
                UNION ALL
                SELECT ARRAY['doctor:' || a.doctor_id, 'patient:' || a.patient_id], '{}'::text[],
                       jsonb_build_object('reason', p_reason)
                WHERE p_reason IS NOT NULL
                UNION ALL
                SELECT ARRAY['clinic:' || a.clinic_id], ARRAY['doctor:' || a.doctor_id, 'patient:' || a.patient_id],
                       '{}'::jsonb
                WHERE p_reason IS NOT NULL) r
$$;

CREATE OR REPLACE FUNCTION emit_appointment_event(p_name text, a appointments) RETURNS void
LANGUAGE sql AS $$ SELECT emit_appointment_event(p_name, a, NULL) $$;

-- Appointment p_id within the clinic and doctor scopes (NULL = any), locked; CL002 when out of reach.
CREATE FUNCTION appointment_lock(p_id bigint, p_clinic bigint, p_doctor bigint) RETURNS appointments
LANGUAGE plpgsql AS $$
DECLARE
  a appointments;
BEGIN
  SELECT * INTO a FROM appointments
  WHERE id = p_id AND (p_clinic IS NULL OR clinic_id = p_clinic) AND (p_doctor IS NULL OR doctor_id = p_doctor)
  FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM raise_not_found('appointment');
  END IF;
  RETURN a;
END
$$;

-- Confirms requested appointment p_id (within the clinic and doctor scopes; NULL = any): the patient
-- gets the booking confirmation (appointments_notify_patient). CL002 when out of reach, CL001 when it
-- is not requested.
CREATE FUNCTION appointment_confirm(p_id bigint, p_clinic bigint, p_doctor bigint) RETURNS appointments
LANGUAGE plpgsql AS $$
DECLARE
  a appointments;
BEGIN
  a := appointment_lock(p_id, p_clinic, p_doctor);
  PERFORM appointment_assert_move(a.id, a.status, 'confirmed');
  UPDATE appointments SET status = 'confirmed' WHERE id = a.id RETURNING * INTO a;
  PERFORM emit_appointment_event('appointment_updated', a);
  RETURN a;
END
$$;

-- Declines requested appointment p_id (scopes as appointment_confirm) for p_reason, by p_by (doctor or
-- clinic): it is cancelled, its slot freed, the patient told. A confirmed appointment is cancelled, not
-- declined (55000).
CREATE FUNCTION appointment_decline(p_id bigint, p_clinic bigint, p_doctor bigint, p_reason text, p_by text)
RETURNS appointments
LANGUAGE plpgsql AS $$
DECLARE
  a appointments;
BEGIN
  a := appointment_lock(p_id, p_clinic, p_doctor);
  PERFORM assert_state(a.status <> 'confirmed', 'The appointment is confirmed; cancel it instead of declining it.');
  PERFORM appointment_assert_move(a.id, a.status, 'cancelled');
  UPDATE appointments SET status = 'cancelled', cancel_reason = p_reason, cancelled_by = p_by, cancelled_at = now()
  WHERE id = a.id RETURNING * INTO a;
  PERFORM emit_appointment_event('appointment_cancelled', a, CASE WHEN p_by = 'doctor' THEN p_reason END);
  RETURN a;
END
$$;

-- 4. The installation reset --------------------------------------------------------------------------------------

-- The append-only tables refuse TRUNCATE, except inside installation_reset (which sets clinic.reset
-- for its own transaction). The audit log keeps refusing (audit_log_refuse_change): it survives a reset.
CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' AND current_setting('clinic.reset', true) = 'on' THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;

-- The audit log outlives the accounts it names: its actor is a plain id, no longer a reference.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_actor_user_id_fkey;

-- The tables that hold clinic records: every table that references clinics or users, directly or
-- through another such table, except users itself, the audit log, and the tables that only belong to
-- an account (every reference of theirs is to users ON DELETE CASCADE: an admin's sessions and links
-- survive; the others go with their account).
CREATE FUNCTION installation_tables() RETURNS SETOF regclass
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
$$;

-- Deletes every clinic record (installation_tables, the events, the clinics, every account but the
-- admins') in the caller's transaction, writes the audit row (p_actor; NULL from the command line) and
-- tells the signaling-servers to close every connection. Resets queue up on one lock: a second one
-- finds nothing left to delete. Returns the number of accounts and clinics removed.
CREATE FUNCTION installation_reset(p_actor bigint, p_role text, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  tables text;
  n_users bigint;
  n_clinics bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('installation_reset'));
  PERFORM set_config('clinic.reset', 'on', true);
  SELECT string_agg(t::text, ', ' ORDER BY t::text) INTO tables FROM installation_tables() t;
  IF tables IS NOT NULL THEN
    EXECUTE 'TRUNCATE ' || tables;
  END IF;
  TRUNCATE events;
  DELETE FROM users WHERE role <> 'ADMIN';
  GET DIAGNOSTICS n_users = ROW_COUNT;
  DELETE FROM clinics;
  GET DIAGNOSTICS n_clinics = ROW_COUNT;
  PERFORM set_config('clinic.reset', 'off', true);
  INSERT INTO audit_log (actor_user_id, actor_role, action, entity, details, request_id)
  VALUES (p_actor, p_role, 'installation_reset', 'installation',
          jsonb_build_object('accounts_removed', n_users, 'clinics_removed', n_clinics), p_request_id);
  PERFORM pg_notify('installation_reset', '');
  PERFORM pg_notify('account_changed', '{}');
  RETURN jsonb_build_object('accounts_removed', n_users, 'clinics_removed', n_clinics, 'reset_at', rfc3339(now()));
END
$$;
