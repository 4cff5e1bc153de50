-- Visits (the day's queue at the desk), their transition history, the clinical record of each
-- visit (the evolution: notes, diagnoses, prescriptions, addenda) and the events they announce.
-- Queue numbers come from a per-clinic, per-day counter row updated in the visit's own
-- transaction, so they are unique and gap-free; every status change is one conditional UPDATE
-- whose trigger records the transition and writes the events.

-- A refusal because of the current state of a record (SQLSTATE 55000, shown as a 409 with the HINT).
CREATE FUNCTION assert_state(ok boolean, reason text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION 'state refused' USING ERRCODE = 'object_not_in_prerequisite_state', HINT = reason;
  END IF;
  RETURN true;
END
$$;

-- Append-only tables refuse changes and removals.
CREATE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;

-- The local date of an instant in a clinic's zone.
CREATE FUNCTION clinic_day(p_clinic bigint, t timestamptz) RETURNS date
LANGUAGE sql STABLE AS $$
  SELECT (t AT TIME ZONE c.timezone)::date FROM clinics c WHERE c.id = p_clinic
$$;

ALTER TABLE appointments ADD CONSTRAINT appointments_id_clinic_key UNIQUE (id, clinic_id);

CREATE TABLE queue_counters (
  clinic_id    bigint NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
  day          date NOT NULL,
  last_number  integer NOT NULL CONSTRAINT queue_counters_last_number_check CHECK (last_number >= 1),
  PRIMARY KEY (clinic_id, day)
);

-- The next queue number of a clinic on a day. The counter row stays locked until the caller's
-- transaction ends, so concurrent check-ins take consecutive numbers and a rolled-back one gives
-- its number back.
CREATE FUNCTION queue_next_number(p_clinic bigint, p_day date) RETURNS integer
LANGUAGE sql AS $$
  INSERT INTO queue_counters AS q (clinic_id, day, last_number) VALUES (p_clinic, p_day, 1)
  ON CONFLICT (clinic_id, day) DO UPDATE SET last_number = q.last_number + 1
  RETURNING last_number
$$;

CREATE TABLE visits (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  clinic_id          bigint NOT NULL REFERENCES clinics (id) ON DELETE RESTRICT,
  patient_id         bigint NOT NULL,
  doctor_id          bigint NOT NULL,
  service_id         bigint,
  appointment_id     bigint CONSTRAINT visits_appointment_id_key UNIQUE,
  consultation_type  text NOT NULL DEFAULT 'in_person' CONSTRAINT visits_consultation_type_check
                       CHECK (consultation_type IN ('in_person', 'video')),
  status             text NOT NULL DEFAULT 'waiting' CONSTRAINT visits_status_check
                       CHECK (status IN ('waiting', 'called', 'in_progress', 'completed', 'left')),
  queue_date         date NOT NULL,
  queue_number       integer NOT NULL CONSTRAINT visits_queue_number_check CHECK (queue_number >= 1),
  check_in_time      timestamptz NOT NULL DEFAULT now(),
  called_at          timestamptz,
  start_time         timestamptz,
  end_time           timestamptz,
  left_at            timestamptz,
  notes              text CONSTRAINT visits_notes_check CHECK (char_length(notes) <= 500),
  created_by         bigint REFERENCES users (id) ON DELETE RESTRICT,
  updated_by         bigint REFERENCES users (id) ON DELETE RESTRICT,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT visits_doctor_id_fkey FOREIGN KEY (doctor_id, clinic_id) REFERENCES doctors (id, clinic_id),
  CONSTRAINT visits_patient_id_fkey FOREIGN KEY (patient_id, clinic_id) REFERENCES patients (id, clinic_id),
  CONSTRAINT visits_service_id_fkey FOREIGN KEY (service_id, clinic_id) REFERENCES services (id, clinic_id),
  CONSTRAINT visits_appointment_id_fkey FOREIGN KEY (appointment_id, clinic_id)
    REFERENCES appointments (id, clinic_id),
  CONSTRAINT visits_queue_number_key UNIQUE (clinic_id, queue_date, queue_number),
  -- The times follow the status: started exactly while in progress or completed, ended exactly
  -- when completed, left exactly when left.
  CONSTRAINT visits_times_check CHECK (
    (start_time IS NOT NULL) = (status IN ('in_progress', 'completed'))
    AND (end_time IS NOT NULL) = (status = 'completed')
    AND (left_at IS NOT NULL) = (status = 'left')
    AND (end_time IS NULL OR end_time >= start_time)
    AND (start_time IS NULL OR start_time >= check_in_time))
);
-- A patient stands in one queue at a time on a day (a visit forgotten open on an earlier day does
-- not keep them out of today's queue).
CREATE UNIQUE INDEX visits_patient_active_key ON visits (patient_id, queue_date)
  WHERE status IN ('waiting', 'called', 'in_progress');
CREATE INDEX visits_board_idx ON visits (clinic_id, queue_date, queue_number);
CREATE INDEX visits_doctor_day_idx ON visits (doctor_id, queue_date);
CREATE INDEX visits_doctor_completed_idx ON visits (doctor_id, end_time DESC) WHERE status = 'completed';
CREATE INDEX visits_patient_doctor_idx ON visits (patient_id, doctor_id, check_in_time DESC, id DESC);
CREATE TRIGGER visits_touch BEFORE UPDATE ON visits FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- The visit state machine (DESIGN §4), kept by the database whatever writes the row: waiting ->
-- called -> in_progress -> completed, waiting/called -> left, and the desk's move of a patient from
-- the doctor back to the waiting room.
CREATE FUNCTION visits_guard_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status <> OLD.status AND NOT (OLD.status, NEW.status) IN (
       ('waiting', 'called'), ('waiting', 'in_progress'), ('waiting', 'left'), ('called', 'in_progress'),
       ('called', 'left'), ('in_progress', 'waiting'), ('in_progress', 'completed')) THEN
    RAISE EXCEPTION 'visit % cannot go from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('The visit is %s; it cannot become %s.', replace(OLD.status, '_', ' '),
                          replace(NEW.status, '_', ' '));
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER visits_transition BEFORE UPDATE OF status ON visits
  FOR EACH ROW EXECUTE FUNCTION visits_guard_transition();

CREATE TABLE visit_transitions (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  visit_id       bigint NOT NULL REFERENCES visits (id) ON DELETE RESTRICT,
  from_status    text,
  to_status      text NOT NULL,
  actor_user_id  bigint REFERENCES users (id) ON DELETE RESTRICT,
  actor_role     text,
  at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visit_transitions_visit_idx ON visit_transitions (visit_id, id);
CREATE TRIGGER visit_transitions_no_update BEFORE UPDATE OR DELETE ON visit_transitions
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER visit_transitions_no_truncate BEFORE TRUNCATE ON visit_transitions
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- The phase the desk shows for a status.
CREATE FUNCTION visit_phase(status text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE status WHEN 'waiting' THEN 'waiting' WHEN 'called' THEN 'waiting'
                     WHEN 'in_progress' THEN 'with_doctor' ELSE status END
$$;

CREATE FUNCTION visit_json(v visits) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'id', v.id, 'clinic_id', v.clinic_id, 'patient_id', v.patient_id, 'doctor_id', v.doctor_id,
    'service_id', v.service_id, 'appointment_id', v.appointment_id, 'consultation_type', v.consultation_type,
    'status', v.status, 'phase', visit_phase(v.status), 'queue_date', to_char(v.queue_date, 'YYYY-MM-DD'),
    'queue_number', v.queue_number, 'check_in_time', rfc3339(v.check_in_time), 'called_at', rfc3339(v.called_at),
    'start_time', rfc3339(v.start_time), 'end_time', rfc3339(v.end_time), 'left_at', rfc3339(v.left_at),
    'notes', v.notes, 'created_at', rfc3339(v.created_at), 'updated_at', rfc3339(v.updated_at))
$$;

-- What broadcasts carry about a visit: ids, queue place and times, nothing clinical.
CREATE FUNCTION visit_summary_json(v visits) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'id', v.id, 'clinic_id', v.clinic_id, 'doctor_id', v.doctor_id, 'patient_id', v.patient_id,
    'appointment_id', v.appointment_id, 'status', v.status, 'queue_date', to_char(v.queue_date, 'YYYY-MM-DD'),
    'queue_number', v.queue_number, 'check_in_time', rfc3339(v.check_in_time), 'start_time', rfc3339(v.start_time),
    'end_time', rfc3339(v.end_time))
$$;

CREATE FUNCTION visit_transition_json(t visit_transitions) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', t.id, 'visit_id', t.visit_id, 'from_status', t.from_status, 'to_status', t.to_status,
    'actor_user_id', t.actor_user_id, 'actor_role', t.actor_role,
    'actor_name', (SELECT u.full_name FROM users u WHERE u.id = t.actor_user_id), 'at', rfc3339(t.at))
$$;

-- The evolution (clinical record) of a visit, one per visit. Editable while a draft; once signed
-- the database refuses any change to it, its diagnoses and its prescriptions, and corrections are
-- addenda, which are append-only.
-- The evolution carries its visit's clinic, doctor and patient (for the doctor's and the patient's
-- reads); the composite key keeps them equal to the visit's.
ALTER TABLE visits ADD CONSTRAINT visits_owner_key UNIQUE (id, clinic_id, doctor_id, patient_id);
CREATE TABLE evolutions (
  visit_id    bigint PRIMARY KEY,
  clinic_id   bigint NOT NULL,
  doctor_id   bigint NOT NULL,
  patient_id  bigint NOT NULL,
  notes       text NOT NULL DEFAULT '' CONSTRAINT evolutions_notes_check CHECK (char_length(notes) <= 20000),
  signed_at   timestamptz,
  signed_by   bigint REFERENCES users (id) ON DELETE RESTRICT,
  created_by  bigint REFERENCES users (id) ON DELETE RESTRICT,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT evolutions_signed_pair_check CHECK ((signed_at IS NULL) = (signed_by IS NULL)),
  CONSTRAINT evolutions_visit_id_fkey FOREIGN KEY (visit_id, clinic_id, doctor_id, patient_id)
    REFERENCES visits (id, clinic_id, doctor_id, patient_id) ON DELETE RESTRICT
);
CREATE INDEX evolutions_doctor_idx ON evolutions (doctor_id, patient_id);
CREATE TRIGGER evolutions_touch BEFORE UPDATE ON evolutions FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE evolution_diagnoses (
  visit_id     bigint NOT NULL REFERENCES evolutions (visit_id) ON DELETE RESTRICT,
  position     integer NOT NULL CONSTRAINT evolution_diagnoses_position_check CHECK (position BETWEEN 1 AND 50),
  code         text NOT NULL CONSTRAINT evolution_diagnoses_code_check CHECK (code ~ '^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$'),
  description  text NOT NULL CONSTRAINT evolution_diagnoses_description_check
                 CHECK (char_length(description) BETWEEN 1 AND 500),
  PRIMARY KEY (visit_id, position)
);
CREATE INDEX evolution_diagnoses_code_idx ON evolution_diagnoses (code);

CREATE TABLE evolution_prescriptions (
  visit_id      bigint NOT NULL REFERENCES evolutions (visit_id) ON DELETE RESTRICT,
  position      integer NOT NULL CONSTRAINT evolution_prescriptions_position_check CHECK (position BETWEEN 1 AND 50),
  drug          text NOT NULL CONSTRAINT evolution_prescriptions_drug_check CHECK (char_length(drug) BETWEEN 1 AND 200),
  dose          text NOT NULL CONSTRAINT evolution_prescriptions_dose_check CHECK (char_length(dose) BETWEEN 1 AND 100),
  route         text NOT NULL CONSTRAINT evolution_prescriptions_route_check CHECK (route IN (
                  'oral', 'sublingual', 'topical', 'inhaled', 'nasal', 'ophthalmic', 'otic', 'rectal', 'vaginal',
                  'transdermal', 'subcutaneous', 'intramuscular', 'intravenous', 'other')),
  frequency     text NOT NULL CONSTRAINT evolution_prescriptions_frequency_check
                  CHECK (char_length(frequency) BETWEEN 1 AND 100),
  duration      text CONSTRAINT evolution_prescriptions_duration_check CHECK (char_length(duration) BETWEEN 1 AND 100),
  instructions  text CONSTRAINT evolution_prescriptions_instructions_check
                  CHECK (char_length(instructions) BETWEEN 1 AND 1000),
  PRIMARY KEY (visit_id, position)
);

CREATE TABLE evolution_addenda (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  visit_id        bigint NOT NULL REFERENCES evolutions (visit_id) ON DELETE RESTRICT,
  text            text NOT NULL CONSTRAINT evolution_addenda_text_check CHECK (char_length(text) BETWEEN 1 AND 20000),
  author_user_id  bigint NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX evolution_addenda_visit_idx ON evolution_addenda (visit_id, id);
CREATE TRIGGER evolution_addenda_no_update BEFORE UPDATE OR DELETE ON evolution_addenda
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER evolution_addenda_no_truncate BEFORE TRUNCATE ON evolution_addenda
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- A signed evolution is frozen: no update or removal of it, and no change to its lists.
CREATE FUNCTION evolutions_guard_signed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.signed_at IS NOT NULL THEN
    RAISE EXCEPTION 'evolution % is signed', OLD.visit_id
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'The evolution is signed and cannot be changed; add an addendum instead.';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER evolutions_signed BEFORE UPDATE OR DELETE ON evolutions
  FOR EACH ROW EXECUTE FUNCTION evolutions_guard_signed();

-- An evolution is written once its consultation has started.
CREATE FUNCTION evolutions_need_started_visit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM visits v WHERE v.id = NEW.visit_id AND v.status IN ('in_progress', 'completed')) THEN
    RAISE EXCEPTION 'visit % has not started', NEW.visit_id
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'The evolution is written once the consultation has started.';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER evolutions_started BEFORE INSERT ON evolutions
  FOR EACH ROW EXECUTE FUNCTION evolutions_need_started_visit();

-- Signs the evolution of visit p_visit for doctor p_doctor: the row is locked first, so the check
-- that it is not empty sees the lists as they are at signing (an edit in flight either lands
-- before or is refused after). Returns false when the visit has no evolution of this doctor.
CREATE FUNCTION evolution_sign(p_visit bigint, p_doctor bigint, p_actor bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  e evolutions;
BEGIN
  SELECT * INTO e FROM evolutions WHERE visit_id = p_visit AND doctor_id = p_doctor FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM assert_state(e.signed_at IS NULL, 'The evolution is already signed.');
  PERFORM assert_field(btrim(e.notes) <> '' OR EXISTS (SELECT 1 FROM evolution_diagnoses d WHERE d.visit_id = p_visit),
                       'evolutions', 'notes', 'must not be empty');
  UPDATE evolutions SET signed_at = now(), signed_by = p_actor WHERE visit_id = p_visit;
  RETURN true;
END
$$;

CREATE FUNCTION evolution_items_guard_signed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Both the row's old and new evolution: moving an item off a signed evolution changes it too.
  IF EXISTS (SELECT 1 FROM evolutions e
             WHERE e.visit_id IN (CASE WHEN TG_OP <> 'INSERT' THEN OLD.visit_id END,
                                  CASE WHEN TG_OP <> 'DELETE' THEN NEW.visit_id END)
               AND e.signed_at IS NOT NULL) THEN
    RAISE EXCEPTION 'evolution is signed'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'The evolution is signed and cannot be changed; add an addendum instead.';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER evolution_diagnoses_signed BEFORE INSERT OR UPDATE OR DELETE ON evolution_diagnoses
  FOR EACH ROW EXECUTE FUNCTION evolution_items_guard_signed();
CREATE TRIGGER evolution_prescriptions_signed BEFORE INSERT OR UPDATE OR DELETE ON evolution_prescriptions
  FOR EACH ROW EXECUTE FUNCTION evolution_items_guard_signed();

-- Addenda only complete a signed evolution (a draft is simply edited).
CREATE FUNCTION evolution_addenda_need_signed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM evolutions e WHERE e.visit_id = NEW.visit_id AND e.signed_at IS NOT NULL) THEN
    RAISE EXCEPTION 'evolution is a draft'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'The evolution is not signed yet; edit it instead of adding an addendum.';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER evolution_addenda_signed BEFORE INSERT ON evolution_addenda
  FOR EACH ROW EXECUTE FUNCTION evolution_addenda_need_signed();

-- The evolution of a visit as JSON, or NULL when it has none.
CREATE FUNCTION evolution_json(p_visit bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'visit_id', e.visit_id, 'clinic_id', e.clinic_id, 'doctor_id', e.doctor_id, 'patient_id', e.patient_id,
    'status', CASE WHEN e.signed_at IS NULL THEN 'draft' ELSE 'signed' END, 'notes', e.notes,
    'diagnoses', COALESCE((SELECT jsonb_agg(jsonb_build_object('code', d.code, 'description', d.description)
                                            ORDER BY d.position)
                           FROM evolution_diagnoses d WHERE d.visit_id = e.visit_id), '[]'::jsonb),
    'prescriptions', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                                 'drug', r.drug, 'dose', r.dose, 'route', r.route, 'frequency', r.frequency,
                                 'duration', r.duration, 'instructions', r.instructions) ORDER BY r.position)
                               FROM evolution_prescriptions r WHERE r.visit_id = e.visit_id), '[]'::jsonb),
    'signed_at', rfc3339(e.signed_at), 'signed_by', e.signed_by,
    'addenda', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                           'id', a.id, 'text', a.text, 'author_user_id', a.author_user_id,
                           'author_name', u.full_name, 'created_at', rfc3339(a.created_at)) ORDER BY a.id)
                         FROM evolution_addenda a JOIN users u ON u.id = a.author_user_id
                         WHERE a.visit_id = e.visit_id), '[]'::jsonb),
    'created_at', rfc3339(e.created_at), 'updated_at', rfc3339(e.updated_at))
  FROM evolutions e WHERE e.visit_id = p_visit
$$;

-- Writes the evolution of visit p_visit for doctor p_doctor from body {notes?, diagnoses?,
-- prescriptions?} (validated by the API; absent keys keep their value). Returns the evolution
-- and 201 when it created it, 200 when it changed it; no row when the visit is not this doctor's.
CREATE FUNCTION evolution_save(p_visit bigint, p_doctor bigint, p_body jsonb, p_actor bigint)
RETURNS TABLE (evolution jsonb, http_status integer)
LANGUAGE plpgsql AS $$
DECLARE
  v visits;
  created boolean;
BEGIN
  SELECT * INTO v FROM visits WHERE id = p_visit AND doctor_id = p_doctor FOR SHARE;
  IF NOT FOUND THEN
    RETURN;
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
  RETURN QUERY SELECT evolution_json(v.id), CASE WHEN created THEN 201 ELSE 200 END;
END
$$;

-- Saves completion notes without losing any: a new draft evolution, appended to a draft's notes,
-- or an addendum to a signed evolution.
CREATE FUNCTION evolution_add_notes(v visits, p_notes text, p_actor bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  signed boolean;
BEGIN
  IF p_notes IS NULL OR btrim(p_notes) = '' THEN
    RETURN;
  END IF;
  SELECT e.signed_at IS NOT NULL INTO signed FROM evolutions e WHERE e.visit_id = v.id FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO evolutions (visit_id, clinic_id, doctor_id, patient_id, notes, created_by)
    VALUES (v.id, v.clinic_id, v.doctor_id, v.patient_id, p_notes, p_actor);
  ELSIF signed THEN
    INSERT INTO evolution_addenda (visit_id, text, author_user_id) VALUES (v.id, p_notes, p_actor);
  ELSE
    UPDATE evolutions SET notes = CASE WHEN notes = '' THEN p_notes ELSE notes || E'\n\n' || p_notes END
    WHERE visit_id = v.id
      AND assert_field(char_length(notes) + 2 + char_length(p_notes) <= 20000, 'visits', 'notes',
                       'do not fit in the draft evolution (20000 characters in all); shorten the draft or the notes');
  END IF;
END
$$;

-- One visit of a patient's history: the visit, its service and appointment, its evolution.
CREATE FUNCTION history_item_json(v visits) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'visit', visit_json(v),
    'service_name', (SELECT s.name FROM services s WHERE s.id = v.service_id),
    'appointment', (SELECT jsonb_build_object('id', a.id, 'start_time', rfc3339(lower(a.period)), 'status', a.status)
                    FROM appointments a WHERE a.id = v.appointment_id),
    'evolution', evolution_json(v.id),
    'payment_status', NULL)
$$;

-- Every visit status change (and the check-in) is recorded with its actor and announced:
-- new_checkin, visit_status_changed, patient_with_doctor (the doctor's room only, with the
-- patient card and the last 10 other visits with this doctor), consultation_completed, and
-- queue_updated for the boards.
CREATE FUNCTION visits_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  label text;
  rooms text[] := ARRAY['clinic:' || NEW.clinic_id, 'doctor:' || NEW.doctor_id];
  from_status text := CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status = OLD.status THEN
    RETURN NULL;
  END IF;
  INSERT INTO visit_transitions (visit_id, from_status, to_status, actor_user_id, actor_role)
  SELECT NEW.id, from_status, NEW.status, NEW.updated_by, (SELECT u.role FROM users u WHERE u.id = NEW.updated_by);
  SELECT patient_label(p.full_name) INTO label FROM patients p WHERE p.id = NEW.patient_id;

  IF TG_OP = 'INSERT' THEN
    INSERT INTO events (name, rooms, data)
    VALUES ('new_checkin', rooms, jsonb_build_object('visit', visit_summary_json(NEW), 'patient_label', label));
  ELSE
    INSERT INTO events (name, rooms, data)
    VALUES ('visit_status_changed', rooms || ('patient:' || NEW.patient_id),
            jsonb_build_object('visit', visit_summary_json(NEW), 'from_status', from_status, 'patient_label', label));
    IF NEW.status = 'in_progress' THEN
      INSERT INTO events (name, rooms, data)
      SELECT 'patient_with_doctor', ARRAY['doctor:' || NEW.doctor_id],
             jsonb_build_object(
               'visit', visit_json(NEW),
               'patient', (SELECT patient_json(p) FROM patients p WHERE p.id = NEW.patient_id),
               'visit_history', COALESCE((
                 SELECT jsonb_agg(history_item_json(h) ORDER BY h.check_in_time DESC, h.id DESC)
                 FROM (SELECT * FROM visits h
                       WHERE h.patient_id = NEW.patient_id AND h.doctor_id = NEW.doctor_id AND h.id <> NEW.id
                       ORDER BY h.check_in_time DESC, h.id DESC LIMIT 10) h), '[]'::jsonb));
    ELSIF NEW.status = 'completed' THEN
      INSERT INTO events (name, rooms, data)
      VALUES ('consultation_completed', rooms || ('patient:' || NEW.patient_id),
              jsonb_build_object('visit', visit_summary_json(NEW), 'patient_label', label));
    END IF;
  END IF;
  INSERT INTO events (name, rooms, data)
  VALUES ('queue_updated', rooms,
          jsonb_build_object('clinic_id', NEW.clinic_id, 'doctor_id', NEW.doctor_id,
                             'date', to_char(NEW.queue_date, 'YYYY-MM-DD'), 'visit_id', NEW.id, 'status', NEW.status));
  RETURN NULL;
END
$$;
CREATE TRIGGER visits_announce AFTER INSERT OR UPDATE OF status ON visits
  FOR EACH ROW EXECUTE FUNCTION visits_announce();

-- Puts a patient in today's queue of the doctor's clinic: the visit `waiting` with the next
-- queue number. The API has checked the ids' types; the composite keys refuse another clinic's
-- patient, doctor or service.
CREATE FUNCTION visit_enqueue(p_clinic bigint, p_patient bigint, p_doctor bigint, p_service bigint,
                              p_appointment bigint, p_type text, p_notes text, p_actor bigint) RETURNS visits
LANGUAGE plpgsql AS $$
DECLARE
  v visits;
  today date := clinic_day(p_clinic, now());
BEGIN
  INSERT INTO visits (clinic_id, patient_id, doctor_id, service_id, appointment_id, consultation_type, queue_date,
                      queue_number, notes, created_by, updated_by)
  VALUES (p_clinic, p_patient, p_doctor, p_service, p_appointment, p_type, today,
          queue_next_number(p_clinic, today), p_notes, p_actor, p_actor)
  RETURNING * INTO v;
  RETURN v;
END
$$;

-- A walk-in: the patient joins today's queue of the doctor without an appointment. body holds
-- patient_id, doctor_id, service_id?, consultation_type?, notes? (types checked by the API). The
-- clinic is p_clinic (the caller's) or, for admins, the doctor's.
CREATE FUNCTION visit_walk_in(p_clinic bigint, p_body jsonb, p_actor bigint) RETURNS visits
LANGUAGE plpgsql AS $$
DECLARE
  doctor bigint := (p_body->>'doctor_id')::bigint;
  service bigint := (p_body->>'service_id')::bigint;
  clinic bigint := COALESCE(p_clinic, (SELECT d.clinic_id FROM doctors d WHERE d.id = doctor));
  active boolean;
BEGIN
  PERFORM assert_field(EXISTS (SELECT 1 FROM doctors d WHERE d.id = doctor AND d.clinic_id = clinic),
                       'visits', 'doctor_id', 'does not exist');
  PERFORM assert_field(EXISTS (SELECT 1 FROM patients p WHERE p.id = (p_body->>'patient_id')::bigint
                                                          AND p.clinic_id = clinic),
                       'visits', 'patient_id', 'does not exist');
  IF service IS NOT NULL THEN
    SELECT s.active INTO active FROM services s WHERE s.id = service AND s.clinic_id = clinic;
    PERFORM assert_field(FOUND, 'visits', 'service_id', 'does not exist');
    PERFORM assert_field(active, 'visits', 'service_id', 'is not offered any more');
  END IF;
  RETURN visit_enqueue(clinic, (p_body->>'patient_id')::bigint, doctor, service, NULL,
                       COALESCE(p_body->>'consultation_type', 'in_person'), p_body->>'notes', p_actor);
END
$$;

-- Checks in the patient of appointment p_id (within clinic p_clinic; NULL = any): only a
-- confirmed appointment, only on its own day in the clinic's zone. The appointment becomes
-- checked_in and the visit joins the queue. A row of NULLs when the appointment is not in reach.
CREATE FUNCTION appointment_check_in(p_id bigint, p_clinic bigint, p_notes text, p_actor bigint) RETURNS visits
LANGUAGE plpgsql AS $$
DECLARE
  a appointments;
  day date;
BEGIN
  SELECT * INTO a FROM appointments WHERE id = p_id AND (p_clinic IS NULL OR clinic_id = p_clinic) FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
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

-- Moves visit p_id (within the clinic and doctor scopes; NULL = any) from one of p_allowed to
-- p_next, stamping the time that status carries; for a completion its appointment is completed
-- too. Returns the visit, or a row of NULLs when it is not within reach. Of two concurrent moves
-- of one visit exactly one succeeds: the other finds the new status and gets the conflict.
CREATE FUNCTION visit_set_status(p_id bigint, p_clinic bigint, p_doctor bigint, p_allowed text[], p_next text,
                                 p_actor bigint) RETURNS visits
LANGUAGE plpgsql AS $$
DECLARE
  v visits;
  a appointments;
BEGIN
  UPDATE visits SET
    status = state_transition(status, p_allowed, p_next, 'visit'),
    called_at = CASE WHEN p_next = 'called' THEN now() ELSE called_at END,
    start_time = CASE WHEN p_next = 'in_progress' THEN greatest(now(), check_in_time)
                      WHEN p_next IN ('waiting', 'called', 'left') THEN NULL ELSE start_time END,
    end_time = CASE WHEN p_next = 'completed' THEN greatest(now(), start_time) ELSE NULL END,
    left_at = CASE WHEN p_next = 'left' THEN now() ELSE NULL END,
    updated_by = p_actor
  WHERE id = p_id AND (p_clinic IS NULL OR clinic_id = p_clinic) AND (p_doctor IS NULL OR doctor_id = p_doctor)
  RETURNING * INTO v;
  IF FOUND AND p_next = 'completed' AND v.appointment_id IS NOT NULL THEN
    UPDATE appointments SET status = state_transition(status, ARRAY['checked_in'], 'completed', 'appointment')
    WHERE id = v.appointment_id
    RETURNING * INTO a;
    PERFORM emit_appointment_event('appointment_updated', a);
  END IF;
  RETURN v;
END
$$;

-- The day's board of a clinic (optionally one doctor's part of it) as the desk shows it: the
-- visits by phase, with names, minutes waited, each waiting patient's place in the doctor's line
-- and the estimated wait from the doctor's recent median consultation time.
CREATE FUNCTION queue_board(p_clinic bigint, p_doctor bigint, p_day date) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  -- PL/pgSQL so the plan of this query is prepared once per connection, not at every call.
  RETURN (
  WITH day_visits AS (
    SELECT v.*, v AS vis FROM visits v
    WHERE v.clinic_id = p_clinic AND v.queue_date = p_day AND (p_doctor IS NULL OR v.doctor_id = p_doctor)
  ),
  docs AS (
    SELECT d.id,
           COALESCE((SELECT ceil(percentile_cont(0.5) WITHIN GROUP (
                              ORDER BY extract(epoch FROM h.end_time - h.start_time)) / 60)::integer
                     FROM (SELECT h.start_time, h.end_time FROM visits h
                           WHERE h.doctor_id = d.id AND h.status = 'completed'
                           ORDER BY h.end_time DESC LIMIT 20) h), 15) AS median,
           (SELECT floor(extract(epoch FROM now() - max(w.start_time)) / 60)::integer
            FROM day_visits w WHERE w.doctor_id = d.id AND w.status = 'in_progress') AS busy_minutes
    FROM (SELECT DISTINCT doctor_id AS id FROM day_visits) d
  ),
  entries AS (
    SELECT v.vis, v.doctor_id, v.patient_id, v.service_id, v.queue_number, v.check_in_time, v.start_time,
           visit_phase(v.status) AS phase,
           CASE WHEN v.status IN ('waiting', 'called')
                THEN row_number() OVER (PARTITION BY v.doctor_id, v.status IN ('waiting', 'called')
                                        ORDER BY v.queue_number) END AS position
    FROM day_visits v
  ),
  items AS (
    SELECT e.phase, e.queue_number,
           visit_json(e.vis) || jsonb_build_object(
             'patient_name', p.full_name, 'service_name', s.name, 'doctor_name', u.full_name,
             'minutes_waited', greatest(0, floor(extract(epoch FROM COALESCE(e.start_time, now()) - e.check_in_time) / 60))::integer,
             'position', e.position,
             'estimated_wait_minutes',
               CASE WHEN e.position IS NOT NULL
                    THEN (e.position - 1) * k.median
                         + CASE WHEN k.busy_minutes IS NULL THEN 0 ELSE greatest(0, k.median - k.busy_minutes) END
               END) AS item
    FROM entries e
    JOIN patients p ON p.id = e.patient_id
    JOIN doctors d ON d.id = e.doctor_id
    JOIN users u ON u.id = d.user_id
    JOIN docs k ON k.id = e.doctor_id
    LEFT JOIN services s ON s.id = e.service_id
    WHERE e.phase <> 'left'
  )
  SELECT jsonb_build_object(
    'clinic_id', p_clinic, 'date', to_char(p_day, 'YYYY-MM-DD'), 'doctor_id', p_doctor,
    'generated_at', rfc3339(now()),
    'median_consultation_minutes', COALESCE((SELECT jsonb_object_agg(k.id::text, k.median) FROM docs k), '{}'::jsonb),
    'phases', jsonb_build_object(
      'waiting', COALESCE((SELECT jsonb_agg(i.item ORDER BY i.queue_number) FROM items i WHERE i.phase = 'waiting'), '[]'::jsonb),
      'with_doctor', COALESCE((SELECT jsonb_agg(i.item ORDER BY i.queue_number) FROM items i WHERE i.phase = 'with_doctor'), '[]'::jsonb),
      'completed', COALESCE((SELECT jsonb_agg(i.item ORDER BY i.queue_number) FROM items i WHERE i.phase = 'completed'), '[]'::jsonb)),
    'counts', jsonb_build_object(
      'waiting', (SELECT count(*) FROM day_visits v WHERE v.status IN ('waiting', 'called')),
      'with_doctor', (SELECT count(*) FROM day_visits v WHERE v.status = 'in_progress'),
      'completed', (SELECT count(*) FROM day_visits v WHERE v.status = 'completed'),
      'left', (SELECT count(*) FROM day_visits v WHERE v.status = 'left')))
  );
END
$$;

-- An item of the doctor's appointment list: the appointment with its patient and service.
CREATE FUNCTION doctor_appointment_item_json(a appointments) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'appointment', appointment_json(a),
    'patient', (SELECT jsonb_build_object('id', p.id, 'full_name', p.full_name, 'phone', p.phone,
                                          'birth_date', to_char(p.birth_date, 'YYYY-MM-DD'), 'sex', p.sex)
                FROM patients p WHERE p.id = a.patient_id),
    'service', (SELECT jsonb_build_object('id', s.id, 'name', s.name, 'duration_minutes', s.duration_minutes)
                FROM services s WHERE s.id = a.service_id))
$$;
