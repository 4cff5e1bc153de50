-- One owner per rule (docs/ARCHITECTURE.md §6 and §10):
--
-- 1. The visit state machine is the table visit_moves. A move is checked once, by the trigger
--    visits_transition (visits_guard_transition), whatever writes the row; visit_move is the one way
--    code moves a visit (C sends a target, a status or a desk phase, never a list of allowed
--    sources), and the video functions ask the table (visit_move_allowed, visit_open) instead of
--    repeating status lists.
-- 2. Completing a consultation is visit_complete, for the desk's in-person visit and the end of a
--    video call alike: the visit completed (billed by visits_bill), its appointment completed, the
--    notes kept in the evolution.
-- 3. SQL refuses only by raising an SQLSTATE of the catalogue below; the C maps it (common/db.c
--    db_ok, api-server/dbreply.c dbr_reply_error; the signaling-server's dblink.c). No row of NULLs
--    for "not found", no text or {"error"} reasons, no OUT status and no HTTP status from SQL (an
--    upsert says `created`).
--
--    SQLSTATE  meaning (the full table, with every function raising each: docs/ARCHITECTURE.md §10)  HTTP
--    CL001     a move its state machine does not allow; DETAIL {"from", "to"}, HINT for clients    409 conflict + transition
--    CL002     the record is not there or out of the caller's reach (raise_not_found)               404 not_found
--    CL003     the record was there and is no longer usable (HINT)                                  410 gone
--    55000     the record's state refuses the operation, not a move (HINT; assert_state)            409 conflict
--    23514     a field's value is refused (TABLE, COLUMN, HINT; assert_field)                       422 validation_failed

-- 1. The visit state machine --------------------------------------------------------------------------------------

CREATE TABLE visit_moves (
  from_status  text NOT NULL,
  to_status    text NOT NULL,
  PRIMARY KEY (from_status, to_status),
  CONSTRAINT visit_moves_from_status_check
    CHECK (from_status IN ('waiting', 'called', 'in_progress', 'completed', 'left')),
  CONSTRAINT visit_moves_to_status_check CHECK (to_status IN ('waiting', 'called', 'in_progress', 'completed', 'left'))
);
INSERT INTO visit_moves (from_status, to_status) VALUES
  ('waiting', 'called'), ('waiting', 'in_progress'), ('waiting', 'left'),
  ('called', 'in_progress'), ('called', 'left'),
  ('in_progress', 'waiting'), ('in_progress', 'completed');
COMMENT ON TABLE visit_moves IS
  'The visit state machine: the only moves a visit may make (checked by trigger visits_transition). A status with '
  'no move out of it (completed, left) is final; one with a move out is open (still in the day''s queue).';

-- Whether a visit in status p_from may move to p_to.
CREATE FUNCTION visit_move_allowed(p_from text, p_to text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT EXISTS (SELECT 1 FROM visit_moves m WHERE m.from_status = p_from AND m.to_status = p_to)
$$;

-- Whether a visit in status p_status is still in the queue (it has a move out of it).
CREATE FUNCTION visit_open(p_status text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT EXISTS (SELECT 1 FROM visit_moves m WHERE m.from_status = p_status)
$$;

-- The status a move to p_target lands on: a status as is, a desk phase (visit_phase's values) the
-- status that enters it (With Doctor is in_progress; Waiting and Completed are their statuses).
CREATE FUNCTION visit_target_status(p_target text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE p_target WHEN 'with_doctor' THEN 'in_progress' ELSE p_target END
$$;

-- The one check of a visit's move: every UPDATE that sets status must be a move of visit_moves
-- (setting the same status again is no move, and is refused too).
CREATE OR REPLACE FUNCTION visits_guard_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT visit_move_allowed(OLD.status, NEW.status) THEN
    RAISE EXCEPTION 'visit % cannot go from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'CL001', DETAIL = json_build_object('from', OLD.status, 'to', NEW.status)::text,
            HINT = format('The visit is %s; it cannot become %s.', replace(OLD.status, '_', ' '),
                          replace(NEW.status, '_', ' '));
  END IF;
  RETURN NEW;
END
$$;

-- The transitions of the other records (appointments, payments, closings) name their move the same
-- way; an edit refused in the current state (next NULL) stays a state refusal (55000).
CREATE OR REPLACE FUNCTION state_transition(current text, allowed text[], next text, what text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT current = ANY (allowed) THEN
    IF next IS NULL THEN
      RAISE EXCEPTION 'the % is %', what, current
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = format('The %s is %s; it cannot be changed.', what, replace(current, '_', ' '));
    END IF;
    RAISE EXCEPTION 'transition % -> % refused', current, next
      USING ERRCODE = 'CL001', DETAIL = json_build_object('from', current, 'to', next)::text,
            HINT = format('The %s is %s; it cannot become %s.', what, replace(current, '_', ' '),
                          replace(next, '_', ' '));
  END IF;
  RETURN COALESCE(next, current);
END
$$;

-- The record is not there or not within the caller's reach (CL002, a 404).
CREATE FUNCTION raise_not_found(what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% not found', what USING ERRCODE = 'CL002';
END
$$;

-- Moves visit p_id (within the clinic and doctor scopes; NULL = any) to p_target (a status or a desk
-- phase), stamping the times that status carries; whether the move is allowed is the trigger's
-- (visits_transition). CL002 when the visit is out of reach. Of two concurrent moves of one visit
-- exactly one succeeds: the other finds the new status and is refused. A completion goes through
-- visit_complete.
CREATE FUNCTION visit_move(p_id bigint, p_clinic bigint, p_doctor bigint, p_target text, p_actor bigint)
RETURNS visits
LANGUAGE plpgsql AS $$
DECLARE
  v visits;
  next text := visit_target_status(p_target);
BEGIN
  UPDATE visits SET
    status = next,
    called_at = CASE WHEN next = 'called' THEN now() ELSE called_at END,
    start_time = CASE WHEN next = 'in_progress' THEN greatest(now(), check_in_time)
                      WHEN next IN ('waiting', 'called', 'left') THEN NULL ELSE start_time END,
    end_time = CASE WHEN next = 'completed' THEN greatest(now(), start_time) ELSE NULL END,
    left_at = CASE WHEN next = 'left' THEN now() ELSE NULL END,
    updated_by = p_actor
  WHERE id = p_id AND (p_clinic IS NULL OR clinic_id = p_clinic) AND (p_doctor IS NULL OR doctor_id = p_doctor)
  RETURNING * INTO v;
  IF NOT FOUND THEN
    PERFORM raise_not_found('visit');
  END IF;
  RETURN v;
END
$$;

-- 2. Completing a consultation -----------------------------------------------------------------------------------

-- Completes the consultation of visit p_id (scopes as visit_move): the visit completed (visits_bill
-- bills it), its appointment completed and announced, and p_notes kept (evolution_add_notes: a new
-- draft, appended to the draft, or an addendum to a signed evolution). The desk's
-- POST /api/queue/complete-consultation and the end of a video call both call it.
CREATE FUNCTION visit_complete(p_id bigint, p_clinic bigint, p_doctor bigint, p_notes text, p_actor bigint)
RETURNS visits
LANGUAGE plpgsql AS $$
DECLARE
  v visits;
  a appointments;
BEGIN
  v := visit_move(p_id, p_clinic, p_doctor, 'completed', p_actor);
  IF v.appointment_id IS NOT NULL THEN
    UPDATE appointments SET status = state_transition(status, ARRAY['checked_in'], 'completed', 'appointment')
    WHERE id = v.appointment_id
    RETURNING * INTO a;
    PERFORM emit_appointment_event('appointment_updated', a);
  END IF;
  PERFORM evolution_add_notes(v, p_notes, p_actor);
  RETURN v;
END
$$;

-- The doctor's end of a call (or the limit's, p_reason max_duration): the session completed and,
-- when its visit is with the doctor (the desk may have moved it back meanwhile), the consultation
-- completed by visit_complete. CL002 when out of reach.
CREATE OR REPLACE FUNCTION video_session_end(p_id bigint, p_doctor bigint, p_notes text, p_actor bigint,
                                             p_reason text) RETURNS video_sessions
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  v visits;
BEGIN
  UPDATE video_sessions
  SET status = state_transition(status, ARRAY['in_progress'], 'completed', 'video consultation'),
      ended_at = greatest(now(), started_at), ended_by = p_actor, end_reason = p_reason
  WHERE id = p_id AND (p_doctor IS NULL OR doctor_id = p_doctor)
  RETURNING * INTO s;
  IF NOT FOUND THEN
    PERFORM raise_not_found('video session');
  END IF;
  SELECT * INTO v FROM visits WHERE id = s.visit_id AND visit_move_allowed(status, 'completed');
  IF FOUND THEN
    PERFORM visit_complete(v.id, NULL, NULL, p_notes, p_actor);
  ELSE
    PERFORM assert_field(p_notes IS NULL, 'video_sessions', 'notes',
                         'cannot be kept: the consultation has no visit with the doctor');
  END IF;
  RETURN s;
END
$$;

-- The video functions move the session's visit when the table allows it (else it stays).
CREATE FUNCTION video_visit_move(s video_sessions, p_target text, p_actor bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM visit_move(v.id, NULL, NULL, p_target, p_actor) FROM visits v
  WHERE v.id = s.visit_id AND visit_move_allowed(v.status, visit_target_status(p_target));
END
$$;

-- Cancels a session nobody has been admitted to (its visit leaves the queue). CL002 when out of reach.
CREATE OR REPLACE FUNCTION video_session_cancel(p_id bigint, p_clinic bigint, p_doctor bigint, p_reason text,
                                                p_actor bigint) RETURNS video_sessions
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
BEGIN
  UPDATE video_sessions
  SET status = state_transition(status, ARRAY['scheduled', 'waiting'], 'cancelled', 'video consultation'),
      ended_at = now(), ended_by = p_actor, end_reason = p_reason
  WHERE id = p_id AND (p_clinic IS NULL OR clinic_id = p_clinic) AND (p_doctor IS NULL OR doctor_id = p_doctor)
  RETURNING * INTO s;
  IF NOT FOUND THEN
    PERFORM raise_not_found('video session');
  END IF;
  PERFORM video_emit('participant_left', s, jsonb_build_object('role', vp.role))
  FROM video_participants vp WHERE vp.session_id = s.id AND vp.state IN ('waiting', 'joined', 'reconnecting');
  UPDATE video_participants SET state = 'left', admitted = false, admitted_identity = NULL, left_at = now(),
                                reconnecting_since = NULL
  WHERE session_id = s.id AND state IN ('waiting', 'joined', 'reconnecting');
  PERFORM video_visit_move(s, 'left', p_actor);
  RETURN s;
END
$$;

-- The participants' part of a session's housekeeping (video_sweep_session): without a connection
-- they are reconnecting, and left after p_grace seconds (a patient's admission lapses; a waiting
-- session goes back to scheduled). Returns the number of changes.
CREATE FUNCTION video_sweep_participants(s video_sessions, p_grace integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN UPDATE video_participants vp SET state = 'reconnecting', reconnecting_since = now()
           WHERE vp.session_id = s.id AND vp.state IN ('waiting', 'joined')
             AND NOT EXISTS (SELECT 1 FROM video_connections c WHERE c.session_id = vp.session_id AND c.role = vp.role)
           RETURNING vp.role LOOP
    PERFORM video_emit('participant_reconnecting', s, jsonb_build_object('role', r.role));
    n := n + 1;
  END LOOP;
  FOR r IN UPDATE video_participants vp SET state = 'left', admitted = false,
                                            admitted_identity = NULL, left_at = now(), reconnecting_since = NULL
           WHERE vp.session_id = s.id AND vp.state = 'reconnecting'
             AND vp.reconnecting_since < now() - make_interval(secs => p_grace)
             AND NOT EXISTS (SELECT 1 FROM video_connections c WHERE c.session_id = vp.session_id AND c.role = vp.role)
           RETURNING vp.role LOOP
    PERFORM video_emit('participant_left', s, jsonb_build_object('role', r.role));
    IF r.role = 'patient' AND s.status = 'waiting' THEN
      UPDATE video_sessions SET status = 'scheduled' WHERE id = s.id RETURNING * INTO s;
    END IF;
    n := n + 1;
  END LOOP;
  RETURN n;
END
$$;

-- The housekeeping of one session (locked by the caller): its participants (above); a session
-- nobody started expires (its visit leaves the queue); an admitted call that never connected within
-- p_connect_timeout fails (the visit goes back to the waiting room); a call everybody left that
-- long ago is abandoned (the visit stays with the doctor, to be completed or moved from the queue).
-- Returns the number of changes.
CREATE OR REPLACE FUNCTION video_sweep_session(s video_sessions, p_grace integer, p_connect_timeout integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  timeout interval := make_interval(secs => p_connect_timeout);
BEGIN
  n := video_sweep_participants(s, p_grace);
  SELECT * INTO s FROM video_sessions WHERE id = s.id;
  IF s.status IN ('scheduled', 'waiting') AND s.expires_at <= now() THEN
    UPDATE video_sessions SET status = 'expired', ended_at = now(),
                              end_reason = CASE WHEN status = 'waiting' THEN 'not_admitted' ELSE 'nobody_joined' END
    WHERE id = s.id RETURNING * INTO s;
    PERFORM video_visit_move(s, 'left', NULL);
    n := n + 1;
  ELSIF s.status = 'in_progress' AND s.connected_at IS NULL AND s.started_at < now() - timeout THEN
    UPDATE video_sessions SET status = 'failed', ended_at = now(), end_reason = 'never_connected'
    WHERE id = s.id RETURNING * INTO s;
    PERFORM video_visit_move(s, 'waiting', NULL);
    n := n + 1;
  ELSIF s.status = 'in_progress' AND NOT EXISTS (SELECT 1 FROM video_connections c WHERE c.session_id = s.id)
        AND NOT EXISTS (SELECT 1 FROM video_participants vp WHERE vp.session_id = s.id AND vp.state <> 'left'
                                                                  AND vp.state <> 'denied')
        AND (SELECT max(vp.left_at) FROM video_participants vp WHERE vp.session_id = s.id) < now() - timeout THEN
    UPDATE video_sessions SET status = 'failed', ended_at = greatest(now(), started_at), end_reason = 'abandoned'
    WHERE id = s.id RETURNING * INTO s;
    n := n + 1;
  END IF;
  IF s.status NOT IN ('scheduled', 'waiting', 'in_progress') THEN
    UPDATE video_participants SET state = 'left', admitted = false, admitted_identity = NULL, left_at = now(),
                                  reconnecting_since = NULL
    WHERE session_id = s.id AND state IN ('waiting', 'joined', 'reconnecting');
  END IF;
  RETURN n;
END
$$;
-- 3. Refusals are raised -------------------------------------------------------------------------------------------

-- The video room's operations (the signaling-server) refuse by raising 55000 with the sentence for
-- the participant as HINT (assert_state); the signaling-server tells a refusal from a failure by the
-- SQLSTATE. They return nothing when done (video_join: the state for the arriving participant).

DROP FUNCTION video_admit(bigint, bigint);
DROP FUNCTION video_dismiss(bigint, boolean, text);
DROP FUNCTION video_relay_send(bigint, text, text, text, text);
DROP FUNCTION video_quality_add(bigint, text, text, double precision, double precision, double precision);

-- The doctor admits the waiting patient (the latest connection's holder): the session is in
-- progress and the visit goes to the doctor (patient_with_doctor); NOTIFY video_admitted names the
-- admitted connection (sql/0015_video_admission.sql).
CREATE FUNCTION video_admit(p_session bigint, p_actor bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  who text;
  conn text;
BEGIN
  SELECT * INTO s FROM video_sessions WHERE id = p_session FOR UPDATE;
  PERFORM assert_state(FOUND AND s.status IN ('waiting', 'in_progress'), 'No patient is waiting.');
  SELECT c.identity, c.sid INTO who, conn FROM video_connections c WHERE c.session_id = s.id AND c.role = 'patient'
  ORDER BY c.connected_at DESC LIMIT 1;
  UPDATE video_participants SET state = 'joined', admitted = true, admitted_at = now(), admitted_identity = who
  WHERE session_id = s.id AND role = 'patient' AND state = 'waiting' AND who IS NOT NULL;
  PERFORM assert_state(FOUND, 'No patient is waiting.');
  IF s.status = 'waiting' THEN
    UPDATE video_sessions SET status = 'in_progress', started_at = now() WHERE id = s.id RETURNING * INTO s;
  END IF;
  PERFORM video_visit_move(s, 'in_progress', p_actor);
  PERFORM video_emit('patient_admitted', s, '{}'::jsonb);
  PERFORM pg_notify('video_admitted', json_build_object('session_id', s.id, 'connection', conn)::text);
END
$$;

-- The doctor turns the waiting patient away (p_remove false: for good, that holder is refused from
-- then on) or sends the admitted patient out (p_remove true: they may wait again to be admitted).
-- The patient's connections are closed by the instances holding them on seeing the event.
CREATE FUNCTION video_dismiss(p_session bigint, p_remove boolean, p_reason text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  who text;
BEGIN
  SELECT * INTO s FROM video_sessions WHERE id = p_session FOR UPDATE;
  PERFORM assert_state(FOUND, 'The video consultation is over.');
  SELECT c.identity INTO who FROM video_connections c WHERE c.session_id = s.id AND c.role = 'patient'
  ORDER BY c.connected_at DESC LIMIT 1;
  UPDATE video_participants SET state = CASE WHEN p_remove THEN 'left' ELSE 'denied' END, admitted = false,
                                admitted_identity = NULL,
                                denied_identity = CASE WHEN p_remove THEN denied_identity ELSE who END,
                                left_at = now(), reconnecting_since = NULL
  WHERE session_id = s.id AND role = 'patient'
    AND CASE WHEN p_remove THEN admitted ELSE state = 'waiting' END;
  PERFORM assert_state(FOUND, CASE WHEN p_remove THEN 'The patient is not in the call.' ELSE 'No patient is waiting.' END);
  IF s.status = 'waiting' THEN
    UPDATE video_sessions SET status = 'scheduled' WHERE id = s.id RETURNING * INTO s;
  END IF;
  PERFORM video_emit(CASE WHEN p_remove THEN 'patient_removed' ELSE 'admission_denied' END, s,
                     jsonb_build_object('reason', p_reason));
END
$$;

-- Relays a WebRTC message from p_from's side (held by p_identity) to the other participant's
-- connections, wherever they are: a row per instance holding one, announced on "relay". Only
-- during the call, between the doctor and the admitted patient.
CREATE FUNCTION video_relay_send(p_session bigint, p_from text, p_identity text, p_name text, p_payload text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  target text := CASE WHEN p_from = 'doctor' THEN 'patient' ELSE 'doctor' END;
  who text;
  inst text;
  sent boolean := false;
BEGIN
  SELECT vp.admitted_identity INTO who
  FROM video_sessions s JOIN video_participants vp ON vp.session_id = s.id
  WHERE s.id = p_session AND s.status = 'in_progress' AND vp.role = 'patient' AND vp.admitted;
  PERFORM assert_state(who IS NOT NULL AND (p_from <> 'patient' OR p_identity = who),
                       'The patient has not been admitted to the call.');
  FOR inst IN SELECT DISTINCT c.instance_id FROM video_connections c
              WHERE c.session_id = p_session AND c.role = target AND (target = 'doctor' OR c.identity = who) LOOP
    INSERT INTO video_relay (instance_id, session_id, to_role, to_identity, name, payload)
    VALUES (inst, p_session, target, CASE WHEN target = 'patient' THEN who END, p_name, p_payload);
    PERFORM pg_notify('relay', inst);
    sent := true;
  END LOOP;
  PERFORM assert_state(sent, format('The %s is not connected.', target));
END
$$;

-- A connection quality sample during the call, from the doctor or the admitted patient, at most
-- one a second per side (more are acknowledged and dropped); the first marks the call connected.
CREATE FUNCTION video_quality_add(p_session bigint, p_role text, p_identity text, p_rtt double precision,
                                  p_loss double precision, p_jitter double precision) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM assert_state(EXISTS (SELECT 1 FROM video_sessions s JOIN video_participants vp ON vp.session_id = s.id
                               WHERE s.id = p_session AND s.status = 'in_progress' AND vp.role = 'patient'
                                 AND vp.admitted AND (p_role = 'doctor' OR vp.admitted_identity = p_identity)),
                       'The call is not in progress.');
  IF EXISTS (SELECT 1 FROM video_quality_samples q WHERE q.session_id = p_session AND q.role = p_role
               AND q.at > now() - interval '1 second') THEN
    RETURN;
  END IF;
  UPDATE video_sessions SET connected_at = COALESCE(connected_at, now()) WHERE id = p_session;
  INSERT INTO video_quality_samples (session_id, role, rtt_ms, packet_loss, jitter_ms)
  VALUES (p_session, p_role, p_rtt, p_loss, p_jitter);
END
$$;

-- The patient's arrival in session s (locked by the caller): waiting for admission (the session
-- waiting too) and, on the appointment's day, checked in unless already in a queue, so the desk sees
-- them. Returns the session as it is now.
CREATE FUNCTION video_join_patient(s video_sessions, p_user bigint) RETURNS video_sessions
LANGUAGE plpgsql AS $$
DECLARE
  a appointments;
  v visits;
BEGIN
  INSERT INTO video_participants (session_id, role, user_id, display_name, state)
  SELECT s.id, 'patient', p_user, p.full_name, 'waiting' FROM patients p WHERE p.id = s.patient_id
  ON CONFLICT (session_id, role) DO UPDATE
    SET state = 'waiting', admitted = false, admitted_at = NULL, admitted_identity = NULL, reconnecting_since = NULL,
        user_id = COALESCE(EXCLUDED.user_id, video_participants.user_id);
  IF s.visit_id IS NULL THEN
    SELECT * INTO a FROM appointments WHERE id = s.appointment_id FOR UPDATE;
    IF a.status = 'confirmed' AND clinic_day(a.clinic_id, lower(a.period)) = clinic_day(a.clinic_id, now())
       AND NOT EXISTS (SELECT 1 FROM visits o WHERE o.patient_id = a.patient_id
                         AND o.queue_date = clinic_day(a.clinic_id, now()) AND visit_open(o.status)) THEN
      v := appointment_check_in(a.id, a.clinic_id, NULL, p_user);
      UPDATE video_sessions SET visit_id = v.id WHERE id = s.id RETURNING * INTO s;
    ELSIF a.status = 'checked_in' THEN
      UPDATE video_sessions SET visit_id = (SELECT o.id FROM visits o WHERE o.appointment_id = a.id)
      WHERE id = s.id RETURNING * INTO s;
    END IF;
  END IF;
  IF s.status = 'scheduled' THEN
    UPDATE video_sessions SET status = 'waiting' WHERE id = s.id RETURNING * INTO s;
  END IF;
  RETURN s;
END
$$;

-- A participant's connection arrives (connection p_sid of instance p_instance, held by p_identity;
-- p_user NULL for a patient invited without an account). The doctor joins. The patient waits for
-- admission (video_join_patient), unless admitted and back within the grace window with the same
-- identity; another identity while the patient is admitted, or one the doctor turned away, is
-- refused (55000). Returns the state for the arriving participant.
CREATE OR REPLACE FUNCTION video_join(p_instance text, p_sid text, p_session bigint, p_role text, p_user bigint,
                                      p_identity text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  vp video_participants;
  was text;
BEGIN
  SELECT * INTO s FROM video_sessions WHERE id = p_session FOR UPDATE;
  PERFORM assert_state(FOUND AND s.status IN ('scheduled', 'waiting', 'in_progress'), 'The video consultation is over.');
  SELECT * INTO vp FROM video_participants WHERE session_id = s.id AND role = p_role FOR UPDATE;
  was := vp.state;
  PERFORM assert_state(p_role <> 'patient' OR vp.denied_identity IS DISTINCT FROM p_identity,
                       'The doctor did not admit you to this consultation.');
  PERFORM assert_state(p_role <> 'patient' OR NOT COALESCE(vp.admitted, false) OR vp.admitted_identity = p_identity,
                       'Another person is in this consultation as the patient.');
  INSERT INTO video_connections (instance_id, sid, session_id, role, identity)
  VALUES (p_instance, p_sid, s.id, p_role, p_identity)
  ON CONFLICT DO NOTHING;
  IF p_role = 'doctor' THEN
    INSERT INTO video_participants (session_id, role, user_id, display_name, state, admitted, admitted_at)
    SELECT s.id, 'doctor', p_user, u.full_name, 'joined', true, now()
    FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = s.doctor_id
    ON CONFLICT (session_id, role) DO UPDATE
      SET state = 'joined', admitted = true, admitted_at = COALESCE(video_participants.admitted_at, now()),
          reconnecting_since = NULL, user_id = EXCLUDED.user_id;
  ELSIF vp.admitted THEN -- the same person back within the grace window: no new admission
    UPDATE video_participants SET state = 'joined', reconnecting_since = NULL
    WHERE session_id = s.id AND role = 'patient';
  ELSE
    s := video_join_patient(s, p_user);
    IF was IS DISTINCT FROM 'waiting' AND was IS DISTINCT FROM 'reconnecting' THEN
      PERFORM video_emit('patient_waiting', s,
                         jsonb_build_object('appointment_id', s.appointment_id, 'visit_id', s.visit_id,
                                            'patient_label', (SELECT patient_label(p.full_name) FROM patients p
                                                              WHERE p.id = s.patient_id)), true);
    END IF;
  END IF;
  SELECT * INTO vp FROM video_participants WHERE session_id = s.id AND role = p_role;
  IF was IS DISTINCT FROM vp.state THEN
    PERFORM video_emit('participant_joined', s, jsonb_build_object('role', p_role, 'display_name', vp.display_name,
                                                                   'state', vp.state));
  END IF;
  RETURN video_state_json(s, p_role);
END
$$;

-- Redeems invitation code p_hash: single use, unexpired, unrevoked. Returns its session; CL002 for
-- an unknown code, CL003 for one used, revoked or expired.
DROP FUNCTION video_invitation_redeem(text);
CREATE FUNCTION video_invitation_redeem(p_hash text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  i video_invitations;
BEGIN
  UPDATE video_invitations SET redeemed_at = now()
  WHERE code_hash = p_hash AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > now()
  RETURNING * INTO i;
  IF FOUND THEN
    RETURN i.session_id;
  END IF;
  SELECT * INTO i FROM video_invitations WHERE code_hash = p_hash;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'invitation not found' USING ERRCODE = 'CL002', HINT = 'No invitation has this code.';
  END IF;
  RAISE EXCEPTION 'invitation not usable' USING ERRCODE = 'CL003',
    HINT = CASE WHEN i.revoked_at IS NOT NULL THEN 'This invitation has been revoked.'
                WHEN i.redeemed_at IS NOT NULL THEN 'This invitation has already been used.'
                ELSE 'This invitation has expired.' END;
END
$$;

-- Writes the evolution of visit p_visit for doctor p_doctor from body {notes?, diagnoses?,
-- prescriptions?} (validated by the API; absent keys keep their value). Returns the evolution and
-- whether it created it; CL002 when the visit is not this doctor's.
DROP FUNCTION evolution_save(bigint, bigint, jsonb, bigint);
CREATE FUNCTION evolution_save(p_visit bigint, p_doctor bigint, p_body jsonb, p_actor bigint,
                               OUT evolution jsonb, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v visits;
BEGIN
  SELECT * INTO v FROM visits WHERE id = p_visit AND doctor_id = p_doctor FOR SHARE;
  IF NOT FOUND THEN
    PERFORM raise_not_found('visit');
  END IF;
  PERFORM assert_state(v.status IN ('in_progress', 'completed'),
                       format('The visit is %s; its evolution is written once the consultation has started.',
                              replace(v.status, '_', ' ')));
  INSERT INTO evolutions AS e (visit_id, clinic_id, doctor_id, patient_id, notes, created_by)
  VALUES (v.id, v.clinic_id, v.doctor_id, v.patient_id, COALESCE(p_body->>'notes', ''), p_actor)
  ON CONFLICT (visit_id) DO UPDATE SET notes = CASE WHEN p_body ? 'notes' THEN p_body->>'notes' ELSE e.notes END
  RETURNING (xmax = 0) INTO created;
  IF p_body ? 'diagnoses' THEN
    DELETE FROM evolution_diagnoses WHERE visit_id = v.id;
    INSERT INTO evolution_diagnoses (visit_id, position, code, description)
    SELECT v.id, x.n, upper(x.d->>'code'), x.d->>'description'
    FROM jsonb_array_elements(p_body->'diagnoses') WITH ORDINALITY AS x (d, n);
  END IF;
  IF p_body ? 'prescriptions' THEN
    DELETE FROM evolution_prescriptions WHERE visit_id = v.id;
    INSERT INTO evolution_prescriptions (visit_id, position, drug, dose, route, frequency, duration, instructions)
    SELECT v.id, x.n, x.r->>'drug', x.r->>'dose', x.r->>'route', x.r->>'frequency', x.r->>'duration',
           x.r->>'instructions'
    FROM jsonb_array_elements(p_body->'prescriptions') WITH ORDINALITY AS x (r, n);
  END IF;
  evolution := evolution_json(v.id);
END
$$;

DROP FUNCTION visit_set_status(bigint, bigint, bigint, text[], text, bigint);

-- 4. Out of reach is raised (CL002), not a row of NULLs ------------------------------------------------------------

-- Checks in the patient of appointment p_id (within clinic p_clinic; NULL = any): only a
-- confirmed appointment, only on its own day in the clinic's zone. The appointment becomes
-- checked_in and the visit joins the queue. CL002 when the appointment is not in reach.
CREATE OR REPLACE FUNCTION appointment_check_in(p_id bigint, p_clinic bigint, p_notes text, p_actor bigint)
RETURNS visits
LANGUAGE plpgsql AS $$
DECLARE
  a appointments;
  day date;
BEGIN
  SELECT * INTO a FROM appointments WHERE id = p_id AND (p_clinic IS NULL OR clinic_id = p_clinic) FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM raise_not_found('appointment');
  END IF;
  PERFORM state_transition(a.status, ARRAY['confirmed'], 'checked_in', 'appointment');
  day := clinic_day(a.clinic_id, lower(a.period));
  PERFORM assert_state(day = clinic_day(a.clinic_id, now()),
                       format('The appointment is on %s; patients check in on the day of their appointment.', day));
  UPDATE appointments SET status = 'checked_in' WHERE id = a.id RETURNING * INTO a;
  PERFORM emit_appointment_event('appointment_updated', a);
  RETURN visit_enqueue(a.clinic_id, a.patient_id, a.doctor_id, a.service_id, a.id, a.consultation_type, p_notes,
                       p_actor);
END
$$;

-- Signs the evolution of visit p_visit for doctor p_doctor (the row locked first, so the check that
-- it is not empty sees the lists as they are at signing). CL002 when the visit has no evolution of
-- this doctor.
DROP FUNCTION evolution_sign(bigint, bigint, bigint);
CREATE FUNCTION evolution_sign(p_visit bigint, p_doctor bigint, p_actor bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  e evolutions;
BEGIN
  SELECT * INTO e FROM evolutions WHERE visit_id = p_visit AND doctor_id = p_doctor FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM raise_not_found('evolution');
  END IF;
  PERFORM assert_state(e.signed_at IS NULL, 'The evolution is already signed.');
  PERFORM assert_field(btrim(e.notes) <> '' OR EXISTS (SELECT 1 FROM evolution_diagnoses d WHERE d.visit_id = p_visit),
                       'evolutions', 'notes', 'must not be empty');
  UPDATE evolutions SET signed_at = now(), signed_by = p_actor WHERE visit_id = p_visit;
END
$$;

-- The desk records the settlement of a pending payment. CL002 when out of reach.
CREATE OR REPLACE FUNCTION payment_pay(p_id bigint, p_clinic bigint, p_method text, p_actor bigint) RETURNS payments
LANGUAGE plpgsql AS $$
DECLARE
  p payments;
BEGIN
  UPDATE payments SET status = state_transition(status, ARRAY['pending'], 'paid', 'payment'),
                      method = p_method, paid_at = now(), paid_by = p_actor
  WHERE id = p_id AND (p_clinic IS NULL OR clinic_id = p_clinic)
  RETURNING * INTO p;
  IF NOT FOUND THEN
    PERFORM raise_not_found('payment');
  END IF;
  RETURN p;
END
$$;

-- A full or partial refund of settled money. CL002 when out of reach.
CREATE OR REPLACE FUNCTION payment_refund(p_id bigint, p_clinic bigint, p_amount bigint, p_reason text,
                                          p_actor bigint) RETURNS payments
LANGUAGE plpgsql AS $$
DECLARE
  p payments;
  doctor_part bigint;
BEGIN
  SELECT * INTO p FROM payments WHERE id = p_id AND (p_clinic IS NULL OR clinic_id = p_clinic) FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM raise_not_found('payment');
  END IF;
  PERFORM state_transition(p.status, ARRAY['paid', 'partially_refunded'], 'refunded', 'payment');
  PERFORM assert_field(p_amount <= p.amount_cents - p.refunded_cents, 'payment_refunds', 'amount_cents',
                       format('exceeds what is left to refund (%s)', p.amount_cents - p.refunded_cents));
  doctor_part := money_share(p.refunded_cents + p_amount, p.doctor_share_bps)
                 - money_share(p.refunded_cents, p.doctor_share_bps);
  INSERT INTO payment_refunds (payment_id, amount_cents, doctor_share_cents, center_share_cents, reason, created_by)
  VALUES (p.id, p_amount, doctor_part, p_amount - doctor_part, p_reason, p_actor);
  UPDATE payments SET refunded_cents = refunded_cents + p_amount,
                      status = CASE WHEN refunded_cents + p_amount = amount_cents THEN 'refunded'
                                    ELSE 'partially_refunded' END
  WHERE id = p.id RETURNING * INTO p;
  RETURN p;
END
$$;

-- Opens the session of video appointment p_appointment (within clinic p_clinic and doctor p_doctor
-- scopes; NULL = any). CL002 when the appointment is out of reach.
CREATE OR REPLACE FUNCTION video_session_create(p_appointment bigint, p_clinic bigint, p_doctor bigint,
                                                p_room_token text, p_expire_minutes integer, p_actor bigint)
RETURNS video_sessions
LANGUAGE plpgsql AS $$
DECLARE
  a appointments;
  s video_sessions;
BEGIN
  SELECT * INTO a FROM appointments
  WHERE id = p_appointment AND (p_clinic IS NULL OR clinic_id = p_clinic) AND (p_doctor IS NULL OR doctor_id = p_doctor)
  FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM raise_not_found('appointment');
  END IF;
  PERFORM assert_field(a.consultation_type = 'video', 'video_sessions', 'appointment_id', 'is not a video consultation');
  PERFORM assert_state(a.status IN ('confirmed', 'checked_in'),
                       format('The appointment is %s; only a confirmed appointment gets a video consultation.',
                              replace(a.status, '_', ' ')));
  PERFORM assert_state(NOT EXISTS (SELECT 1 FROM video_sessions o WHERE o.appointment_id = a.id
                                     AND o.status IN ('scheduled', 'waiting', 'in_progress')),
                       'A video consultation is already open for this appointment.');
  INSERT INTO video_sessions (clinic_id, appointment_id, doctor_id, patient_id, visit_id, room_token, expires_at,
                              created_by)
  VALUES (a.clinic_id, a.id, a.doctor_id, a.patient_id,
          (SELECT v.id FROM visits v WHERE v.appointment_id = a.id), p_room_token,
          upper(a.period) + make_interval(mins => p_expire_minutes), p_actor)
  RETURNING * INTO s;
  RETURN s;
END
$$;

-- A step of a closing (the doctor's own only when p_doctor is given); CL002 when out of reach.
CREATE OR REPLACE FUNCTION closing_advance(p_id bigint, p_doctor bigint, p_action text, p_note text, p_actor bigint)
RETURNS closings
LANGUAGE plpgsql AS $$
DECLARE
  c closings;
  was text;
BEGIN
  SELECT * INTO c FROM closings WHERE id = p_id AND (p_doctor IS NULL OR doctor_id = p_doctor) FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM raise_not_found('closing');
  END IF;
  was := c.status;
  IF p_action = 'close' THEN
    PERFORM state_transition(c.status, ARRAY['draft', 'disputed'], 'closed', 'closing');
    c := closing_collect(c);
    UPDATE closings SET status = 'closed', closed_at = COALESCE(closed_at, now()), payment_reference = NULL,
                        pix_key_type = d.pix_key_type, pix_key = d.pix_key
    FROM doctors d WHERE closings.id = c.id AND d.id = c.doctor_id RETURNING closings.* INTO c;
  ELSIF p_action = 'confirm_payment' THEN
    UPDATE closings SET status = state_transition(status, ARRAY['closed'], 'payment_confirmed', 'closing'),
                        payment_reference = p_note, payment_confirmed_at = now(), dispute_reason = NULL
    WHERE id = c.id RETURNING * INTO c;
  ELSIF p_action = 'confirm_receipt' THEN
    UPDATE closings SET status = state_transition(status, ARRAY['payment_confirmed'], 'receipt_confirmed', 'closing'),
                        receipt_confirmed_at = now()
    WHERE id = c.id RETURNING * INTO c;
  ELSIF p_action = 'dispute' THEN
    UPDATE closings SET status = state_transition(status, ARRAY['payment_confirmed'], 'disputed', 'closing'),
                        dispute_reason = p_note
    WHERE id = c.id RETURNING * INTO c;
  ELSE
    RAISE EXCEPTION 'unknown closing action %', p_action;
  END IF;
  RETURN closing_step(c, p_action, was, p_actor, p_note);
END
$$;

-- Whether a join token may be issued now for session p_id (sql/0008_video.sql); CL002 when it does not exist.
CREATE OR REPLACE FUNCTION video_token_check(p_id bigint, p_early_minutes integer) RETURNS video_sessions
LANGUAGE plpgsql STABLE AS $$
DECLARE
  s video_sessions;
  a appointments;
  opens timestamptz;
BEGIN
  SELECT * INTO s FROM video_sessions WHERE id = p_id;
  IF NOT FOUND THEN
    PERFORM raise_not_found('video session');
  END IF;
  PERFORM assert_state(s.status = 'in_progress' OR (s.status IN ('scheduled', 'waiting') AND s.expires_at > now()),
                       format('The video consultation is %s.',
                              CASE WHEN s.status IN ('scheduled', 'waiting') THEN 'over' ELSE replace(s.status, '_', ' ') END));
  SELECT * INTO a FROM appointments WHERE id = s.appointment_id;
  PERFORM assert_state(a.status IN ('confirmed', 'checked_in'),
                       format('The appointment is %s.', replace(a.status, '_', ' ')));
  opens := lower(a.period) - make_interval(mins => p_early_minutes);
  PERFORM assert_state(now() >= opens, format('The video consultation opens at %s.', rfc3339(opens)));
  RETURN s;
END
$$;

-- 5. Triggers that act at a distance, named at the table they fire on ---------------------------------------------

COMMENT ON TABLE visits IS
  'The day''s queue. Moved only by visit_move / visit_complete (and visits_end_day). Triggers acting at a distance: '
  'visits_transition (the move must be in visit_moves, CL001), visits_left_reason (left_reason), visits_announce '
  '(visit_transitions row; new_checkin, visit_status_changed, patient_with_doctor, consultation_completed, '
  'queue_updated events), visits_bill (a completion with a service gets its payment, once), visits_close_appointment '
  '(a visit that leaves: its checked-in appointment becomes no_show), visits_board_insert/update/delete (the queue '
  'board''s version bump).';
COMMENT ON TRIGGER visits_transition ON visits IS 'The visit state machine: refuses a status change not in visit_moves (CL001).';
COMMENT ON TRIGGER visits_announce ON visits IS
  'Records the transition (visit_transitions) and writes the queue events (new_checkin, visit_status_changed, '
  'patient_with_doctor, consultation_completed, queue_updated).';
COMMENT ON TRIGGER visits_bill ON visits IS
  'A completed visit with a service is billed: its payments row (once per visit) and the payment_create audit row.';
COMMENT ON TRIGGER visits_left_reason ON visits IS 'Sets left_reason on a move to left (patient_left unless day_ended).';
COMMENT ON TRIGGER visits_close_appointment ON visits IS
  'A visit that leaves closes its checked-in appointment as no_show (in person; video ones at the end of the day).';
COMMENT ON TRIGGER visits_board_insert ON visits IS 'Bumps the queue board version of the visit''s clinic and day.';
COMMENT ON TRIGGER visits_board_update ON visits IS 'Bumps the queue board version of the visit''s clinic and day.';
COMMENT ON TRIGGER visits_board_delete ON visits IS 'Bumps the queue board version of the visit''s clinic and day.';
COMMENT ON TABLE appointments IS
  'Bookings. Triggers acting at a distance: appointments_video_follow (cancelled, no_show, another doctor, no longer '
  'video: the open video session ends; moved in time: its expiry moves), appointments_notify_patient (sql/0021: the '
  'patient''s message queued in deliveries). Changed by visits too: a check-in '
  '(appointment_check_in), a completion (visit_complete), a visit that leaves (visits_close_appointment).';
COMMENT ON TRIGGER appointments_video_follow ON appointments IS
  'Ends the open video session (cancelled, or failed if the call had begun) or moves its expiry with the appointment.';
COMMENT ON TABLE video_sessions IS
  'Video consultations. Triggers acting at a distance: video_sessions_transition (the session state machine, 55000), '
  'video_sessions_announce (video_session_updated). Its visit is moved through visit_move / visit_complete.';
COMMENT ON TRIGGER video_sessions_announce ON video_sessions IS 'Writes video_session_updated on every status change.';
COMMENT ON TABLE payments IS
  'Written by visits_bill when a consultation completes. Triggers: payments_guard (frozen billing, forward-only '
  'status), payments_announce (payment_processed).';
COMMENT ON TRIGGER payments_announce ON payments IS 'Writes payment_processed (full to the doctor, slim to the clinic).';
COMMENT ON TABLE video_participants IS 'Triggers acting at a distance: video_participants_doctor_ready (video_doctor_ready to the patient).';
COMMENT ON TABLE events IS 'The outbox. Trigger events_notify sends NOTIFY events for every row.';
COMMENT ON TABLE users IS
  'Triggers acting at a distance: users_revoke_tokens, users_sessions_guard and users_sessions_ended (end the '
  'account''s sessions, NOTIFY account_changed), users_keep_an_admin (the last active admin stays), users_role_link, '
  'users_board_name (queue board version), users_account_changed/deleted/truncated (sql/0020: NOTIFY '
  'account_changed).';
