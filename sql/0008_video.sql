-- Video consultations (DESIGN §4 video session, §6 video room): sessions of video appointments,
-- their two participants (the doctor and the patient) with joined / left times and admission,
-- the signaling connections currently in each session, connection quality samples, single-use
-- invitation codes, and the WebRTC messages relayed between signaling-server instances.
--
-- The signaling-server calls the functions at the end (video_join, video_admit, video_relay_send,
-- ...) and the API the session functions; each change announces itself through the events outbox,
-- so every instance delivers it in order. The database keeps the session state machine, the
-- single open session per appointment and the participants' consistency.

CREATE TABLE video_sessions (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  clinic_id       bigint NOT NULL REFERENCES clinics (id) ON DELETE RESTRICT,
  appointment_id  bigint NOT NULL,
  doctor_id       bigint NOT NULL,
  patient_id      bigint NOT NULL,
  visit_id        bigint,
  room_token      text NOT NULL CONSTRAINT video_sessions_room_token_key UNIQUE
                    CONSTRAINT video_sessions_room_token_check CHECK (room_token ~ '^[A-Za-z0-9_-]{43}$'),
  status          text NOT NULL DEFAULT 'scheduled' CONSTRAINT video_sessions_status_check
                    CHECK (status IN ('scheduled', 'waiting', 'in_progress', 'completed', 'cancelled', 'expired',
                                      'failed')),
  end_reason      text CONSTRAINT video_sessions_end_reason_check CHECK (char_length(end_reason) BETWEEN 1 AND 200),
  expires_at      timestamptz NOT NULL,
  created_by      bigint REFERENCES users (id) ON DELETE RESTRICT,
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  connected_at    timestamptz,
  ended_at        timestamptz,
  ended_by        bigint REFERENCES users (id) ON DELETE RESTRICT,
  CONSTRAINT video_sessions_appointment_id_fkey FOREIGN KEY (appointment_id, clinic_id)
    REFERENCES appointments (id, clinic_id),
  CONSTRAINT video_sessions_doctor_id_fkey FOREIGN KEY (doctor_id, clinic_id) REFERENCES doctors (id, clinic_id),
  CONSTRAINT video_sessions_patient_id_fkey FOREIGN KEY (patient_id, clinic_id) REFERENCES patients (id, clinic_id),
  CONSTRAINT video_sessions_visit_id_fkey FOREIGN KEY (visit_id, clinic_id, doctor_id, patient_id)
    REFERENCES visits (id, clinic_id, doctor_id, patient_id),
  -- The times follow the status: started once admitted, ended exactly when over, a reason for a failure.
  CONSTRAINT video_sessions_times_check CHECK (
    (ended_at IS NOT NULL) = (status IN ('completed', 'cancelled', 'expired', 'failed'))
    AND (started_at IS NOT NULL OR status NOT IN ('in_progress', 'completed'))
    AND (connected_at IS NULL OR started_at IS NOT NULL)
    AND (status <> 'failed' OR end_reason IS NOT NULL)
    AND (ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at))
);
-- One open session per appointment (a failed or expired one may be followed by a new one).
CREATE UNIQUE INDEX video_sessions_open_key ON video_sessions (appointment_id)
  WHERE status IN ('scheduled', 'waiting', 'in_progress');
CREATE INDEX video_sessions_doctor_idx ON video_sessions (doctor_id, created_at);
CREATE INDEX video_sessions_clinic_idx ON video_sessions (clinic_id, created_at);
CREATE INDEX video_sessions_patient_idx ON video_sessions (patient_id);
CREATE INDEX video_sessions_sweep_idx ON video_sessions (expires_at) WHERE status IN ('scheduled', 'waiting', 'in_progress');

-- The session state machine (DESIGN §4), whatever writes the row.
CREATE FUNCTION video_sessions_guard_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status <> OLD.status AND NOT (OLD.status, NEW.status) IN (
       ('scheduled', 'waiting'), ('scheduled', 'cancelled'), ('scheduled', 'expired'),
       ('waiting', 'scheduled'), ('waiting', 'in_progress'), ('waiting', 'cancelled'), ('waiting', 'expired'),
       ('in_progress', 'completed'), ('in_progress', 'failed')) THEN
    RAISE EXCEPTION 'video session % cannot go from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('The video consultation is %s; it cannot become %s.', replace(OLD.status, '_', ' '),
                          replace(NEW.status, '_', ' '));
  END IF;
  IF NEW.appointment_id <> OLD.appointment_id OR NEW.doctor_id <> OLD.doctor_id
     OR NEW.patient_id <> OLD.patient_id OR NEW.room_token <> OLD.room_token THEN
    RAISE EXCEPTION 'a video session keeps its appointment, doctor, patient and room'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER video_sessions_transition BEFORE UPDATE ON video_sessions
  FOR EACH ROW EXECUTE FUNCTION video_sessions_guard_transition();

-- Only a video appointment has a video session.
CREATE FUNCTION video_sessions_need_video_appointment() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM assert_field(EXISTS (SELECT 1 FROM appointments a WHERE a.id = NEW.appointment_id
                                 AND a.consultation_type = 'video' AND a.doctor_id = NEW.doctor_id
                                 AND a.patient_id = NEW.patient_id),
                       'video_sessions', 'appointment_id', 'is not a video consultation');
  RETURN NEW;
END
$$;
CREATE TRIGGER video_sessions_video_only BEFORE INSERT ON video_sessions
  FOR EACH ROW EXECUTE FUNCTION video_sessions_need_video_appointment();

-- The two participants of a session, one row per role, kept for the record once they leave.
CREATE TABLE video_participants (
  session_id          bigint NOT NULL REFERENCES video_sessions (id) ON DELETE CASCADE,
  role                text NOT NULL CONSTRAINT video_participants_role_check CHECK (role IN ('doctor', 'patient')),
  user_id             bigint REFERENCES users (id) ON DELETE SET NULL,
  display_name        text NOT NULL,
  state               text NOT NULL CONSTRAINT video_participants_state_check
                        CHECK (state IN ('waiting', 'joined', 'reconnecting', 'left', 'denied')),
  admitted            boolean NOT NULL DEFAULT false,
  joined_at           timestamptz NOT NULL DEFAULT now(),
  admitted_at         timestamptz,
  left_at             timestamptz,
  reconnecting_since  timestamptz,
  -- Who the admission is for, and who was turned away: a token's holder (u<user id>, or t<token id>
  -- for a patient invited without an account). Another holder of a patient token waits or is refused.
  admitted_identity   text,
  denied_identity     text,
  PRIMARY KEY (session_id, role),
  CONSTRAINT video_participants_state_times_check CHECK (
    (state = 'reconnecting') = (reconnecting_since IS NOT NULL)
    AND (NOT admitted OR state IN ('joined', 'reconnecting'))
    AND (NOT admitted OR admitted_at IS NOT NULL)
    AND (role = 'doctor' OR admitted = (admitted_identity IS NOT NULL)))
);

-- The signaling connections in each session now (an instance's rows go when it stops beating).
CREATE TABLE video_connections (
  instance_id   text NOT NULL,
  sid           text NOT NULL CONSTRAINT video_connections_sid_check CHECK (sid ~ '^[0-9a-f]{32}$'),
  session_id    bigint NOT NULL REFERENCES video_sessions (id) ON DELETE CASCADE,
  role          text NOT NULL CONSTRAINT video_connections_role_check CHECK (role IN ('doctor', 'patient')),
  identity      text NOT NULL CONSTRAINT video_connections_identity_check CHECK (identity ~ '^[ut][0-9a-f]{1,32}$'),
  connected_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (instance_id, sid)
);
CREATE INDEX video_connections_session_idx ON video_connections (session_id, role);

CREATE TABLE video_quality_samples (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  session_id   bigint NOT NULL REFERENCES video_sessions (id) ON DELETE CASCADE,
  role         text NOT NULL CONSTRAINT video_quality_samples_role_check CHECK (role IN ('doctor', 'patient')),
  rtt_ms       double precision NOT NULL CONSTRAINT video_quality_samples_rtt_ms_check CHECK (rtt_ms BETWEEN 0 AND 60000),
  packet_loss  double precision NOT NULL CONSTRAINT video_quality_samples_packet_loss_check
                 CHECK (packet_loss BETWEEN 0 AND 1),
  jitter_ms    double precision NOT NULL CONSTRAINT video_quality_samples_jitter_ms_check
                 CHECK (jitter_ms BETWEEN 0 AND 60000),
  at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX video_quality_samples_session_idx ON video_quality_samples (session_id);

-- Single-use invitation codes for a patient without an account; only the code's SHA-256 is kept.
CREATE TABLE video_invitations (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  session_id   bigint NOT NULL REFERENCES video_sessions (id) ON DELETE CASCADE,
  code_hash    text NOT NULL CONSTRAINT video_invitations_code_hash_key UNIQUE
                 CONSTRAINT video_invitations_code_hash_check CHECK (code_hash ~ '^[0-9a-f]{64}$'),
  created_by   bigint REFERENCES users (id) ON DELETE RESTRICT,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  redeemed_at  timestamptz,
  revoked_at   timestamptz,
  revoked_by   bigint REFERENCES users (id) ON DELETE RESTRICT,
  CONSTRAINT video_invitations_once_check CHECK (redeemed_at IS NULL OR revoked_at IS NULL)
);
CREATE INDEX video_invitations_session_idx ON video_invitations (session_id);

-- WebRTC messages on their way to the signaling instance holding the receiver: a row per receiving
-- instance, announced on the "relay" channel with that instance's id (the payload, an SDP of tens
-- of kilobytes, never travels in the notification), read and deleted by that instance.
CREATE TABLE video_relay (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  instance_id  text NOT NULL,
  session_id   bigint NOT NULL REFERENCES video_sessions (id) ON DELETE CASCADE,
  to_role      text NOT NULL CONSTRAINT video_relay_to_role_check CHECK (to_role IN ('doctor', 'patient')),
  to_identity  text, -- the admitted patient's identity (a message to the patient reaches only them)
  name         text NOT NULL,
  payload      text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX video_relay_instance_idx ON video_relay (instance_id, id);

-- JSON -----------------------------------------------------------------------------------------------------------

CREATE FUNCTION video_participant_json(p video_participants) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('role', p.role, 'display_name', p.display_name, 'state', p.state,
                            'admitted', p.admitted, 'joined_at', rfc3339(p.joined_at),
                            'admitted_at', rfc3339(p.admitted_at), 'left_at', rfc3339(p.left_at))
$$;

CREATE FUNCTION video_session_json(s video_sessions) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', s.id, 'appointment_id', s.appointment_id, 'clinic_id', s.clinic_id, 'doctor_id', s.doctor_id,
    'patient_id', s.patient_id, 'visit_id', s.visit_id, 'status', s.status, 'end_reason', s.end_reason,
    'room_token', s.room_token,
    'scheduled_start', rfc3339(lower(a.period)), 'scheduled_end', rfc3339(upper(a.period)),
    'expires_at', rfc3339(s.expires_at), 'created_at', rfc3339(s.created_at), 'started_at', rfc3339(s.started_at),
    'connected_at', rfc3339(s.connected_at), 'ended_at', rfc3339(s.ended_at),
    'duration_seconds', CASE WHEN s.status = 'completed'
                             THEN floor(extract(epoch FROM s.ended_at - s.started_at))::bigint END,
    'doctor', jsonb_build_object('id', d.id, 'full_name', du.full_name),
    'patient', jsonb_build_object('id', pt.id, 'full_name', pt.full_name),
    'participants', COALESCE((SELECT jsonb_agg(video_participant_json(vp) ORDER BY vp.role)
                              FROM video_participants vp WHERE vp.session_id = s.id), '[]'::jsonb),
    'quality', (SELECT jsonb_build_object('samples', count(*), 'rtt_ms_avg', round(avg(q.rtt_ms)::numeric, 1),
                                          'rtt_ms_max', round(max(q.rtt_ms)::numeric, 1),
                                          'packet_loss_avg', round(avg(q.packet_loss)::numeric, 4),
                                          'jitter_ms_avg', round(avg(q.jitter_ms)::numeric, 1))
                FROM video_quality_samples q WHERE q.session_id = s.id))
  FROM appointments a, doctors d, users du, patients pt
  WHERE a.id = s.appointment_id AND d.id = s.doctor_id AND du.id = d.user_id AND pt.id = s.patient_id
$$;

-- What the desk and the rooms are told of a session: ids, times and a patient label, no clinical detail.
CREATE FUNCTION video_session_summary_json(s video_sessions) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', s.id, 'appointment_id', s.appointment_id, 'clinic_id', s.clinic_id, 'doctor_id', s.doctor_id,
    'patient_id', s.patient_id, 'visit_id', s.visit_id, 'status', s.status, 'end_reason', s.end_reason,
    'patient_label', (SELECT patient_label(p.full_name) FROM patients p WHERE p.id = s.patient_id),
    'started_at', rfc3339(s.started_at), 'ended_at', rfc3339(s.ended_at),
    'duration_seconds', CASE WHEN s.status = 'completed'
                             THEN floor(extract(epoch FROM s.ended_at - s.started_at))::bigint END)
$$;

-- Events ---------------------------------------------------------------------------------------------------------

CREATE FUNCTION video_rooms(s video_sessions) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT ARRAY['clinic:' || s.clinic_id, 'doctor:' || s.doctor_id, 'video:' || s.id]
$$;

-- Every status change of a session is announced to the desk, the doctor and the room.
CREATE FUNCTION video_sessions_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status = OLD.status THEN
    RETURN NULL;
  END IF;
  INSERT INTO events (name, rooms, data)
  VALUES ('video_session_updated', video_rooms(NEW), jsonb_build_object('session', video_session_summary_json(NEW)));
  RETURN NULL;
END
$$;
CREATE TRIGGER video_sessions_announce AFTER INSERT OR UPDATE OF status ON video_sessions
  FOR EACH ROW EXECUTE FUNCTION video_sessions_announce();

CREATE FUNCTION video_emit(p_name text, s video_sessions, p_data jsonb, p_desk boolean DEFAULT false) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO events (name, rooms, data)
  VALUES (p_name, CASE WHEN p_desk THEN video_rooms(s) ELSE ARRAY['video:' || s.id] END,
          jsonb_build_object('session_id', s.id) || p_data)
$$;

-- Sessions (the API) ---------------------------------------------------------------------------------------------

-- Opens the session of video appointment p_appointment (within clinic p_clinic and doctor p_doctor
-- scopes; NULL = any). A row of NULLs when the appointment is out of reach.
CREATE FUNCTION video_session_create(p_appointment bigint, p_clinic bigint, p_doctor bigint, p_room_token text,
                                     p_expire_minutes integer, p_actor bigint) RETURNS video_sessions
LANGUAGE plpgsql AS $$
DECLARE
  a appointments;
  s video_sessions;
BEGIN
  SELECT * INTO a FROM appointments
  WHERE id = p_appointment AND (p_clinic IS NULL OR clinic_id = p_clinic) AND (p_doctor IS NULL OR doctor_id = p_doctor)
  FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
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

-- Whether a join token may be issued now for session p_id: its appointment still on, the session
-- open (a call in progress whatever the hour; one not started until expires_at), and the
-- appointment start minus p_early_minutes come. Returns the session (NULLs when it does not exist).
CREATE FUNCTION video_token_check(p_id bigint, p_early_minutes integer) RETURNS video_sessions
LANGUAGE plpgsql STABLE AS $$
DECLARE
  s video_sessions;
  a appointments;
  opens timestamptz;
BEGIN
  SELECT * INTO s FROM video_sessions WHERE id = p_id;
  IF NOT FOUND THEN
    RETURN NULL;
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

-- Redeems invitation code p_hash: single use, unexpired, unrevoked, its session open. Returns
-- (status, session_id): status 'ok', 'unknown', 'used', 'revoked', 'expired'.
CREATE FUNCTION video_invitation_redeem(p_hash text, OUT status text, OUT session_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  i video_invitations;
BEGIN
  UPDATE video_invitations SET redeemed_at = now()
  WHERE code_hash = p_hash AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > now()
  RETURNING * INTO i;
  IF FOUND THEN
    status := 'ok';
    session_id := i.session_id;
    RETURN;
  END IF;
  SELECT * INTO i FROM video_invitations WHERE code_hash = p_hash;
  session_id := i.session_id;
  status := CASE WHEN NOT FOUND THEN 'unknown' WHEN i.revoked_at IS NOT NULL THEN 'revoked'
                 WHEN i.redeemed_at IS NOT NULL THEN 'used' ELSE 'expired' END;
END
$$;

-- The doctor ends the call: the session is completed and its visit completed as a consultation is
-- (the appointment too; notes into the evolution). A row of NULLs when out of reach.
CREATE FUNCTION video_session_end(p_id bigint, p_doctor bigint, p_notes text, p_actor bigint) RETURNS video_sessions
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  v visits;
BEGIN
  UPDATE video_sessions
  SET status = state_transition(status, ARRAY['in_progress'], 'completed', 'video consultation'),
      ended_at = greatest(now(), started_at), ended_by = p_actor
  WHERE id = p_id AND (p_doctor IS NULL OR doctor_id = p_doctor)
  RETURNING * INTO s;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  -- The visit completes when it is with the doctor (the desk may have moved it back meanwhile).
  SELECT * INTO v FROM visits WHERE id = s.visit_id AND status = 'in_progress';
  IF FOUND THEN
    v := visit_set_status(v.id, NULL, NULL, ARRAY['in_progress'], 'completed', p_actor);
    PERFORM evolution_add_notes(v, p_notes, p_actor);
  ELSE
    PERFORM assert_field(p_notes IS NULL, 'video_sessions', 'notes',
                         'cannot be kept: the consultation has no visit with the doctor');
  END IF;
  RETURN s;
END
$$;

-- Cancels a session nobody has been admitted to. A row of NULLs when out of reach.
CREATE FUNCTION video_session_cancel(p_id bigint, p_clinic bigint, p_doctor bigint, p_reason text,
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
  IF FOUND THEN
    PERFORM video_emit('participant_left', s, jsonb_build_object('role', vp.role))
    FROM video_participants vp WHERE vp.session_id = s.id AND vp.state IN ('waiting', 'joined', 'reconnecting');
    UPDATE video_participants SET state = 'left', admitted = false, admitted_identity = NULL, left_at = now(),
                                  reconnecting_since = NULL
    WHERE session_id = s.id AND state IN ('waiting', 'joined', 'reconnecting');
    PERFORM visit_set_status(s.visit_id, NULL, NULL, ARRAY['waiting', 'called'], 'left', p_actor)
    FROM visits v WHERE v.id = s.visit_id AND v.status IN ('waiting', 'called');
  END IF;
  RETURN s;
END
$$;

-- The video room (the signaling-server) ---------------------------------------------------------------------------

-- What a participant is told on arrival and after each admission change.
CREATE FUNCTION video_state_json(s video_sessions, p_role text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'session_id', s.id, 'role', p_role, 'status', s.status,
    'admitted', COALESCE((SELECT vp.admitted FROM video_participants vp
                          WHERE vp.session_id = s.id AND vp.role = p_role), false),
    'participants', COALESCE((SELECT jsonb_agg(video_participant_json(vp) ORDER BY vp.role)
                              FROM video_participants vp WHERE vp.session_id = s.id), '[]'::jsonb))
$$;

-- A participant's connection arrives (connection p_sid of instance p_instance, held by p_identity;
-- p_user NULL for a patient invited without an account). The doctor joins. The patient waits for
-- admission, unless admitted and back within the grace window with the same identity; another
-- identity while the patient is admitted, or one the doctor turned away, is refused. On the
-- patient's first wait the appointment is checked in, so the desk sees them in the queue. Returns
-- {"error": ...} when refused, else the state for the arriving participant.
CREATE FUNCTION video_join(p_instance text, p_sid text, p_session bigint, p_role text, p_user bigint,
                           p_identity text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  vp video_participants;
  a appointments;
  v visits;
  name text;
  was text;
BEGIN
  SELECT * INTO s FROM video_sessions WHERE id = p_session FOR UPDATE;
  IF NOT FOUND OR s.status NOT IN ('scheduled', 'waiting', 'in_progress') THEN
    RETURN jsonb_build_object('error', 'The video consultation is over.');
  END IF;
  SELECT * INTO vp FROM video_participants WHERE session_id = s.id AND role = p_role FOR UPDATE;
  IF p_role = 'patient' AND vp.denied_identity = p_identity THEN
    RETURN jsonb_build_object('error', 'The doctor did not admit you to this consultation.');
  END IF;
  IF p_role = 'patient' AND vp.admitted AND vp.admitted_identity <> p_identity THEN
    RETURN jsonb_build_object('error', 'Another person is in this consultation as the patient.');
  END IF;
  INSERT INTO video_connections (instance_id, sid, session_id, role, identity)
  VALUES (p_instance, p_sid, s.id, p_role, p_identity)
  ON CONFLICT DO NOTHING;
  was := vp.state;
  IF p_role = 'doctor' THEN
    SELECT u.full_name INTO name FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = s.doctor_id;
    INSERT INTO video_participants (session_id, role, user_id, display_name, state, admitted, admitted_at)
    VALUES (s.id, 'doctor', p_user, name, 'joined', true, now())
    ON CONFLICT (session_id, role) DO UPDATE
      SET state = 'joined', admitted = true, admitted_at = COALESCE(video_participants.admitted_at, now()),
          reconnecting_since = NULL, user_id = EXCLUDED.user_id;
  ELSIF vp.admitted THEN -- the same person back within the grace window: no new admission
    UPDATE video_participants SET state = 'joined', reconnecting_since = NULL
    WHERE session_id = s.id AND role = 'patient';
  ELSE
    SELECT p.full_name INTO name FROM patients p WHERE p.id = s.patient_id;
    INSERT INTO video_participants (session_id, role, user_id, display_name, state)
    VALUES (s.id, 'patient', p_user, name, 'waiting')
    ON CONFLICT (session_id, role) DO UPDATE
      SET state = 'waiting', admitted = false, admitted_at = NULL, admitted_identity = NULL, reconnecting_since = NULL,
          user_id = COALESCE(EXCLUDED.user_id, video_participants.user_id);
    -- Checked in on the appointment's day, unless already in a queue.
    IF s.visit_id IS NULL THEN
      SELECT * INTO a FROM appointments WHERE id = s.appointment_id FOR UPDATE;
      IF a.status = 'confirmed' AND clinic_day(a.clinic_id, lower(a.period)) = clinic_day(a.clinic_id, now())
         AND NOT EXISTS (SELECT 1 FROM visits o WHERE o.patient_id = a.patient_id
                           AND o.queue_date = clinic_day(a.clinic_id, now())
                           AND o.status IN ('waiting', 'called', 'in_progress')) THEN
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
    IF was IS DISTINCT FROM 'waiting' AND was IS DISTINCT FROM 'reconnecting' THEN
      PERFORM video_emit('patient_waiting', s,
                         jsonb_build_object('appointment_id', s.appointment_id, 'visit_id', s.visit_id,
                                            'patient_label', patient_label(name)), true);
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

-- A connection of a session is gone: when it was its participant's last, the participant is
-- reconnecting (left for good after the grace window, see video_sweep). The session row is locked
-- first, as video_join does, so a join on another instance is never missed.
CREATE FUNCTION video_leave(p_instance text, p_sid text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  c video_connections;
  s video_sessions;
BEGIN
  SELECT * INTO c FROM video_connections WHERE instance_id = p_instance AND sid = p_sid;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  SELECT * INTO s FROM video_sessions WHERE id = c.session_id FOR UPDATE;
  DELETE FROM video_connections WHERE instance_id = p_instance AND sid = p_sid;
  IF EXISTS (SELECT 1 FROM video_connections o WHERE o.session_id = c.session_id AND o.role = c.role) THEN
    RETURN;
  END IF;
  UPDATE video_participants SET state = 'reconnecting', reconnecting_since = now()
  WHERE session_id = c.session_id AND role = c.role AND state IN ('waiting', 'joined');
  IF FOUND THEN
    PERFORM video_emit('participant_reconnecting', s, jsonb_build_object('role', c.role));
  END IF;
END
$$;

-- The housekeeping of one session (locked by the caller): participants without a connection are
-- reconnecting, and left after p_grace seconds (a patient's admission lapses); a session nobody
-- started expires; an admitted call that never connected within p_connect_timeout fails (the visit
-- goes back to the waiting room); a call everybody left that long ago is abandoned. Returns the
-- number of changes.
CREATE FUNCTION video_sweep_session(s video_sessions, p_grace integer, p_connect_timeout integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer := 0;
  r record;
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
  IF s.status IN ('scheduled', 'waiting') AND s.expires_at <= now() THEN
    UPDATE video_sessions SET status = 'expired', ended_at = now(),
                              end_reason = CASE WHEN status = 'waiting' THEN 'not_admitted' ELSE 'nobody_joined' END
    WHERE id = s.id RETURNING * INTO s;
    PERFORM visit_set_status(s.visit_id, NULL, NULL, ARRAY['waiting', 'called'], 'left', NULL)
    FROM visits v WHERE v.id = s.visit_id AND v.status IN ('waiting', 'called');
    n := n + 1;
  ELSIF s.status = 'in_progress' AND s.connected_at IS NULL
        AND s.started_at < now() - make_interval(secs => p_connect_timeout) THEN
    UPDATE video_sessions SET status = 'failed', ended_at = now(), end_reason = 'never_connected'
    WHERE id = s.id RETURNING * INTO s;
    PERFORM visit_set_status(s.visit_id, NULL, NULL, ARRAY['in_progress'], 'waiting', NULL)
    FROM visits v WHERE v.id = s.visit_id AND v.status = 'in_progress';
    n := n + 1;
  ELSIF s.status = 'in_progress' AND NOT EXISTS (SELECT 1 FROM video_connections c WHERE c.session_id = s.id)
        AND NOT EXISTS (SELECT 1 FROM video_participants vp WHERE vp.session_id = s.id AND vp.state <> 'left'
                                                                  AND vp.state <> 'denied')
        AND (SELECT max(vp.left_at) FROM video_participants vp WHERE vp.session_id = s.id)
            < now() - make_interval(secs => p_connect_timeout) THEN
    -- Everybody left long ago and the doctor never ended it: the visit stays with the doctor to be
    -- completed (or moved) from the queue.
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

-- Housekeeping, run every few seconds by the signaling instances: connections of instances gone
-- silent are dropped, then each open session that needs it is swept under its own lock, in id
-- order, skipping those another transaction holds (the next sweep takes them): no lock-order
-- cycle with video_join and the others, which lock the session first too.
CREATE FUNCTION video_sweep(p_grace integer, p_connect_timeout integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer := 0;
  s video_sessions;
BEGIN
  DELETE FROM video_connections c
  WHERE NOT EXISTS (SELECT 1 FROM signaling_instances i
                    WHERE i.id = c.instance_id AND i.last_seen > now() - interval '30 seconds');
  FOR s IN SELECT * FROM video_sessions x
           WHERE x.status IN ('scheduled', 'waiting', 'in_progress')
             AND (x.expires_at <= now() OR x.status = 'in_progress'
                  OR EXISTS (SELECT 1 FROM video_participants vp WHERE vp.session_id = x.id
                               AND vp.state IN ('waiting', 'joined', 'reconnecting')))
           ORDER BY x.id FOR UPDATE SKIP LOCKED LOOP
    n := n + video_sweep_session(s, p_grace, p_connect_timeout);
  END LOOP;
  DELETE FROM video_relay WHERE created_at < now() - interval '5 minutes';
  RETURN n;
END
$$;

-- The doctor admits the waiting patient (the latest connection's holder): the session is in
-- progress and the visit goes to the doctor (patient_with_doctor). Returns NULL when done, else
-- why not.
CREATE FUNCTION video_admit(p_session bigint, p_actor bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  who text;
BEGIN
  SELECT * INTO s FROM video_sessions WHERE id = p_session FOR UPDATE;
  IF NOT FOUND OR s.status NOT IN ('waiting', 'in_progress') THEN
    RETURN 'No patient is waiting.';
  END IF;
  SELECT c.identity INTO who FROM video_connections c WHERE c.session_id = s.id AND c.role = 'patient'
  ORDER BY c.connected_at DESC LIMIT 1;
  UPDATE video_participants SET state = 'joined', admitted = true, admitted_at = now(), admitted_identity = who
  WHERE session_id = s.id AND role = 'patient' AND state = 'waiting' AND who IS NOT NULL;
  IF NOT FOUND THEN
    RETURN 'No patient is waiting.';
  END IF;
  IF s.status = 'waiting' THEN
    UPDATE video_sessions SET status = 'in_progress', started_at = now() WHERE id = s.id RETURNING * INTO s;
  END IF;
  PERFORM visit_set_status(s.visit_id, NULL, NULL, ARRAY['waiting', 'called'], 'in_progress', p_actor)
  FROM visits v WHERE v.id = s.visit_id AND v.status IN ('waiting', 'called');
  PERFORM video_emit('patient_admitted', s, '{}'::jsonb);
  RETURN NULL;
END
$$;

-- The doctor turns the waiting patient away (p_remove false: for good, that holder is refused from
-- then on) or sends the admitted patient out (p_remove true: they may wait again to be admitted).
-- The patient's connections are closed by the instances holding them on seeing the event.
-- Returns NULL when done, else why not.
CREATE FUNCTION video_dismiss(p_session bigint, p_remove boolean, p_reason text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  who text;
BEGIN
  SELECT * INTO s FROM video_sessions WHERE id = p_session FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'The video consultation is over.';
  END IF;
  SELECT c.identity INTO who FROM video_connections c WHERE c.session_id = s.id AND c.role = 'patient'
  ORDER BY c.connected_at DESC LIMIT 1;
  UPDATE video_participants SET state = CASE WHEN p_remove THEN 'left' ELSE 'denied' END, admitted = false,
                                admitted_identity = NULL,
                                denied_identity = CASE WHEN p_remove THEN denied_identity ELSE who END,
                                left_at = now(), reconnecting_since = NULL
  WHERE session_id = s.id AND role = 'patient'
    AND CASE WHEN p_remove THEN admitted ELSE state = 'waiting' END;
  IF NOT FOUND THEN
    RETURN CASE WHEN p_remove THEN 'The patient is not in the call.' ELSE 'No patient is waiting.' END;
  END IF;
  IF s.status = 'waiting' THEN
    UPDATE video_sessions SET status = 'scheduled' WHERE id = s.id RETURNING * INTO s;
  END IF;
  PERFORM video_emit(CASE WHEN p_remove THEN 'patient_removed' ELSE 'admission_denied' END, s,
                     jsonb_build_object('reason', p_reason));
  RETURN NULL;
END
$$;

-- Relays a WebRTC message from p_from's side (held by p_identity) to the other participant's
-- connections, wherever they are: a row per instance holding one, announced on "relay". Only
-- during the call, between the doctor and the admitted patient. Returns NULL when sent, else why
-- not.
CREATE FUNCTION video_relay_send(p_session bigint, p_from text, p_identity text, p_name text, p_payload text)
RETURNS text
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
  IF who IS NULL OR (p_from = 'patient' AND p_identity <> who) THEN
    RETURN 'The patient has not been admitted to the call.';
  END IF;
  FOR inst IN SELECT DISTINCT c.instance_id FROM video_connections c
              WHERE c.session_id = p_session AND c.role = target AND (target = 'doctor' OR c.identity = who) LOOP
    INSERT INTO video_relay (instance_id, session_id, to_role, to_identity, name, payload)
    VALUES (inst, p_session, target, CASE WHEN target = 'patient' THEN who END, p_name, p_payload);
    PERFORM pg_notify('relay', inst);
    sent := true;
  END LOOP;
  IF NOT sent THEN
    RETURN format('The %s is not connected.', target);
  END IF;
  RETURN NULL;
END
$$;

-- A connection quality sample during the call, from the doctor or the admitted patient, at most
-- one a second per side (more are acknowledged and dropped); the first marks the call connected.
-- Returns NULL when taken, else why not.
CREATE FUNCTION video_quality_add(p_session bigint, p_role text, p_identity text, p_rtt double precision,
                                  p_loss double precision, p_jitter double precision) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM video_sessions s JOIN video_participants vp ON vp.session_id = s.id
                 WHERE s.id = p_session AND s.status = 'in_progress' AND vp.role = 'patient' AND vp.admitted
                   AND (p_role = 'doctor' OR vp.admitted_identity = p_identity)) THEN
    RETURN 'The call is not in progress.';
  END IF;
  IF EXISTS (SELECT 1 FROM video_quality_samples q WHERE q.session_id = p_session AND q.role = p_role
               AND q.at > now() - interval '1 second') THEN
    RETURN NULL;
  END IF;
  UPDATE video_sessions SET connected_at = COALESCE(connected_at, now()) WHERE id = p_session;
  INSERT INTO video_quality_samples (session_id, role, rtt_ms, packet_loss, jitter_ms)
  VALUES (p_session, p_role, p_rtt, p_loss, p_jitter);
  RETURN NULL;
END
$$;

-- A session follows its appointment: cancelled, marked a no-show, given to another doctor or made
-- an in-person consultation, the open session ends (cancelled, or failed if the call had begun);
-- moved in time, its expiry moves with it.
CREATE FUNCTION appointments_video_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
BEGIN
  FOR s IN SELECT * FROM video_sessions x WHERE x.appointment_id = NEW.id
             AND x.status IN ('scheduled', 'waiting', 'in_progress') FOR UPDATE LOOP
    IF NEW.status IN ('cancelled', 'no_show') OR NEW.doctor_id <> OLD.doctor_id OR NEW.consultation_type <> 'video' THEN
      UPDATE video_sessions
      SET status = CASE WHEN status = 'in_progress' THEN 'failed' ELSE 'cancelled' END, ended_at = now(),
          end_reason = CASE WHEN NEW.status IN ('cancelled', 'no_show') THEN 'appointment_' || NEW.status
                            ELSE 'appointment_changed' END
      WHERE id = s.id;
      UPDATE video_participants SET state = 'left', admitted = false, admitted_identity = NULL, left_at = now(),
                                    reconnecting_since = NULL
      WHERE session_id = s.id AND state IN ('waiting', 'joined', 'reconnecting');
    ELSIF NEW.period <> OLD.period THEN
      UPDATE video_sessions SET expires_at = upper(NEW.period) + (s.expires_at - upper(OLD.period)) WHERE id = s.id;
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;
CREATE TRIGGER appointments_video_follow AFTER UPDATE ON appointments
  FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status OR NEW.doctor_id <> OLD.doctor_id
                     OR NEW.consultation_type IS DISTINCT FROM OLD.consultation_type OR NEW.period <> OLD.period)
  EXECUTE FUNCTION appointments_video_follow();

-- A video timing: an availability rule of the doctor that serves video consultations; shared when
-- it serves in-person ones too (then it is changed through the schedule, not as a timing).
CREATE FUNCTION video_timing_json(r availability_rules) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT (availability_rule_json(r) - 'consultation_types')
         || jsonb_build_object('shared', cardinality(r.consultation_types) > 1)
$$;
