-- Appointments, which the database keeps free of double booking, and the events outbox through
-- which every committed change is announced.

-- Composite keys so an appointment's doctor, patient and service are provably of its clinic.
ALTER TABLE doctors ADD CONSTRAINT doctors_id_clinic_key UNIQUE (id, clinic_id);
ALTER TABLE patients ADD CONSTRAINT patients_id_clinic_key UNIQUE (id, clinic_id);
ALTER TABLE services ADD CONSTRAINT services_id_clinic_key UNIQUE (id, clinic_id);

CREATE TABLE appointments (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  clinic_id          bigint NOT NULL REFERENCES clinics (id) ON DELETE RESTRICT,
  doctor_id          bigint NOT NULL,
  patient_id         bigint NOT NULL,
  service_id         bigint NOT NULL,
  consultation_type  text NOT NULL CONSTRAINT appointments_consultation_type_check
                       CHECK (consultation_type IN ('in_person', 'video')),
  status             text NOT NULL DEFAULT 'confirmed' CONSTRAINT appointments_status_check
                       CHECK (status IN ('requested', 'confirmed', 'checked_in', 'completed', 'cancelled', 'no_show')),
  period             tstzrange NOT NULL CONSTRAINT appointments_start_time_check
                       CHECK (NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)),
  notes              text CONSTRAINT appointments_notes_check CHECK (char_length(notes) <= 2000),
  cancel_reason      text CONSTRAINT appointments_cancel_reason_check CHECK (char_length(cancel_reason) BETWEEN 1 AND 500),
  cancelled_by       text CONSTRAINT appointments_cancelled_by_check CHECK (cancelled_by IN ('patient', 'clinic')),
  cancelled_at       timestamptz,
  created_by         bigint REFERENCES users (id) ON DELETE RESTRICT,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT appointments_doctor_id_fkey FOREIGN KEY (doctor_id, clinic_id) REFERENCES doctors (id, clinic_id),
  CONSTRAINT appointments_patient_id_fkey FOREIGN KEY (patient_id, clinic_id) REFERENCES patients (id, clinic_id),
  CONSTRAINT appointments_service_id_fkey FOREIGN KEY (service_id, clinic_id) REFERENCES services (id, clinic_id),
  CONSTRAINT appointments_cancel_pair_check
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL AND cancelled_by IS NOT NULL AND cancel_reason IS NOT NULL)),
  -- No double booking: an active appointment never overlaps another of the same doctor, or of the
  -- same patient. Two concurrent bookings of one slot: one commits, the other gets 23P01.
  CONSTRAINT appointments_doctor_overlap_excl EXCLUDE USING gist (doctor_id WITH =, period WITH &&)
    WHERE (status IN ('requested', 'confirmed', 'checked_in')),
  CONSTRAINT appointments_patient_overlap_excl EXCLUDE USING gist (patient_id WITH =, period WITH &&)
    WHERE (status IN ('requested', 'confirmed', 'checked_in'))
);
CREATE INDEX appointments_clinic_start_idx ON appointments (clinic_id, lower(period), id);
CREATE INDEX appointments_doctor_start_idx ON appointments (doctor_id, lower(period), id);
CREATE INDEX appointments_patient_start_idx ON appointments (patient_id, lower(period), id);
CREATE TRIGGER appointments_touch BEFORE UPDATE ON appointments FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE FUNCTION appointment_json(a appointments) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'id', a.id, 'clinic_id', a.clinic_id, 'patient_id', a.patient_id, 'doctor_id', a.doctor_id,
    'service_id', a.service_id, 'consultation_type', a.consultation_type, 'status', a.status,
    'start_time', rfc3339(lower(a.period)), 'end_time', rfc3339(upper(a.period)), 'notes', a.notes,
    'cancel_reason', a.cancel_reason, 'cancelled_by', a.cancelled_by, 'cancelled_at', rfc3339(a.cancelled_at),
    'created_at', rfc3339(a.created_at), 'updated_at', rfc3339(a.updated_at))
$$;

-- "Paulo P.": how a patient is named in broadcasts (no clinical detail, no contact data).
CREATE FUNCTION patient_label(full_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN array_length(parts, 1) > 1 THEN parts[1] || ' ' || left(parts[array_length(parts, 1)], 1) || '.'
              ELSE parts[1] END
  FROM (SELECT regexp_split_to_array(btrim(full_name), '\s+') AS parts) s
$$;

-- The events outbox (DESIGN §5). A row is written in the transaction of the change it announces.
-- Delivery order is (txid, id); a reader only takes rows whose transaction id is below the xmin
-- of its snapshot, i.e. whose transaction has finished (committed, or rolled back and invisible):
-- ids from the sequence are taken before commit and transactions commit out of order, so
-- "everything after the last id" would skip a slow transaction's rows; "everything after the
-- last (txid, id) below xmin" cannot.
CREATE TABLE events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  txid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
  occurred_at  timestamptz NOT NULL DEFAULT now(),
  name         text NOT NULL CONSTRAINT events_name_check CHECK (name ~ '^[a-z_]{1,64}$'),
  rooms        text[] NOT NULL CONSTRAINT events_rooms_check CHECK (cardinality(rooms) >= 1),
  data         jsonb NOT NULL
);
CREATE INDEX events_delivery_idx ON events (txid, id);
CREATE INDEX events_rooms_idx ON events USING gin (rooms);

-- The listeners are told that something committed; the payload is only the id (NOTIFY is capped
-- at 8000 bytes and identical payloads of one transaction collapse).
CREATE FUNCTION events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('events', NEW.id::text);
  RETURN NULL;
END
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION events_notify();

-- The opaque event cursor: "<txid>-<id>".
CREATE FUNCTION event_cursor(e events) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT e.txid::text || '-' || e.id::text $$;

CREATE FUNCTION event_json(e events) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('event_id', event_cursor(e), 'name', e.name, 'occurred_at', rfc3339(e.occurred_at),
                            'data', e.data)
$$;

-- Writes an appointment event to its clinic, doctor and patient rooms.
CREATE FUNCTION emit_appointment_event(p_name text, a appointments) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO events (name, rooms, data)
  SELECT p_name,
         ARRAY['clinic:' || a.clinic_id, 'doctor:' || a.doctor_id, 'patient:' || a.patient_id],
         jsonb_build_object(
           'appointment', jsonb_build_object(
             'id', a.id, 'clinic_id', a.clinic_id, 'doctor_id', a.doctor_id, 'patient_id', a.patient_id,
             'service_id', a.service_id, 'consultation_type', a.consultation_type, 'status', a.status,
             'start_time', rfc3339(lower(a.period)), 'end_time', rfc3339(upper(a.period))),
           'patient_label', (SELECT patient_label(p.full_name) FROM patients p WHERE p.id = a.patient_id))
$$;

-- Free slots now also leave out the times of the doctor's active appointments.
CREATE OR REPLACE FUNCTION doctor_free_slots(p_doctor bigint, p_from date, p_to date, p_type text)
RETURNS TABLE (start_time timestamptz, end_time timestamptz, consultation_type text)
LANGUAGE sql STABLE AS $$
  WITH doc AS (
    SELECT d.id, c.timezone FROM doctors d JOIN clinics c ON c.id = d.clinic_id WHERE d.id = p_doctor
  ),
  candidate AS (
    SELECT ((day::date + r.start_time) + make_interval(mins => r.slot_minutes * n)) AT TIME ZONE doc.timezone AS s,
           ((day::date + r.start_time) + make_interval(mins => r.slot_minutes * (n + 1))) AT TIME ZONE doc.timezone AS e,
           t.kind
    FROM doc
    JOIN availability_rules r ON r.doctor_id = doc.id
    JOIN generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS day
      ON extract(isodow FROM day) = r.weekday
    CROSS JOIN LATERAL generate_series(0, (minute_of_day(r.end_time) - minute_of_day(r.start_time)) / r.slot_minutes - 1) AS n
    CROSS JOIN LATERAL unnest(r.consultation_types) AS t(kind)
    WHERE p_type IS NULL OR t.kind = p_type
  )
  SELECT c.s, c.e, c.kind FROM candidate c
  WHERE c.s > now()
    AND NOT EXISTS (SELECT 1 FROM doctor_unavailability u
                    WHERE u.doctor_id = p_doctor AND u.period && tstzrange(c.s, c.e))
    AND NOT EXISTS (SELECT 1 FROM appointments a
                    WHERE a.doctor_id = p_doctor AND a.status IN ('requested', 'confirmed', 'checked_in')
                      AND a.period && tstzrange(c.s, c.e))
  ORDER BY c.s, c.kind
$$;

-- For conditional writes: true when ok, else raises the CHECK violation of table.column with the
-- reason as HINT, which the API shows as that field's validation message.
CREATE FUNCTION assert_field(ok boolean, tbl text, col text, reason text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION '%.% refused', tbl, col
      USING ERRCODE = 'check_violation', TABLE = tbl, COLUMN = col, CONSTRAINT = tbl || '_' || col || '_check',
            HINT = reason;
  END IF;
  RETURN true;
END
$$;

-- A state transition: the next state (NULL: stay, for edits allowed only in some states) when the
-- current one is among allowed, else a conflict (SQLSTATE 55000) whose HINT the API shows.
-- Evaluated on the locked, current row version, so of two concurrent moves exactly one succeeds.
CREATE FUNCTION state_transition(current text, allowed text[], next text, what text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT current = ANY (allowed) THEN
    RAISE EXCEPTION 'transition % -> % refused', current, next
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = CASE WHEN next IS NULL
                        THEN format('The %s is %s; it cannot be changed.', what, replace(current, '_', ' '))
                        ELSE format('The %s is %s; it cannot become %s.', what, replace(current, '_', ' '),
                                    replace(next, '_', ' ')) END;
  END IF;
  RETURN COALESCE(next, current);
END
$$;

-- An instant with its microseconds, for cursors (rfc3339 drops fractions of a second).
CREATE FUNCTION rfc3339_exact(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
