-- The queue board's version: what GET /api/queue answers is a pure function of the database and
-- of the minute it is computed for, and this file owns the numbers that say when it changed, so an
-- api-server can answer 304 or serve a body it already built after one cheap query
-- (queue_board_stamp), on every instance alike.
--
-- What a board of (clinic, day) shows, and what bumps its version when that changes:
--   * the visits of that clinic and day, any column: the statement triggers visits_board_* below,
--     whatever writes the visit (a SQL function, a handler, a trigger elsewhere);
--   * the doctors' median consultation times, from their completed visits of any day: a statement
--     that writes a completed visit (or completes one) also bumps the clinic-wide version;
--   * the names of patients, services and doctors (users.full_name, doctors.user_id): a change
--     bumps the clinic-wide version (patients_board_name, services_board_name, users_board_name,
--     doctors_board_user);
--   * the time: minutes waited and estimated waits are computed as of the start of the current
--     minute (queue_board's p_as_of), and that minute is part of the stamp.
-- A writing transaction notes the boards it changed (queue_board_touch, no lock taken) and bumps
-- their versions at its commit (the deferred trigger queue_versions_flush), once per board, with
-- one upsert per table, clinic-wide rows first, each in (clinic, day) order: the version rows are
-- locked only while the transaction commits, never while it still works, and always in one order,
-- so concurrent writers of one clinic do not queue behind each other's statements and bulk writers
-- of many boards cannot deadlock. A version row is never deleted (but with its clinic), so a
-- version number is never reused for another content.

CREATE TABLE queue_versions (
  clinic_id  bigint NOT NULL REFERENCES clinics (id) ON DELETE CASCADE,
  day        date NOT NULL,
  version    bigint NOT NULL CONSTRAINT queue_versions_version_check CHECK (version >= 1),
  PRIMARY KEY (clinic_id, day)
);

CREATE TABLE queue_clinic_versions (
  clinic_id  bigint PRIMARY KEY REFERENCES clinics (id) ON DELETE CASCADE,
  version    bigint NOT NULL CONSTRAINT queue_clinic_versions_version_check CHECK (version >= 1)
);

-- The boards the transactions running have changed, until their commit bumps them (a row lives
-- only inside the transaction that wrote it: the flush deletes it, a rollback takes it back). A
-- NULL day stands for the clinic-wide version. Unlogged: it is empty at every commit.
CREATE UNLOGGED TABLE queue_versions_pending (
  xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
  clinic_id  bigint NOT NULL,
  day        date
);
CREATE INDEX queue_versions_pending_xid_idx ON queue_versions_pending (xid);

-- Notes that this transaction changed the boards of the (clinic, day) pairs of p_clinics and
-- p_days (arrays of equal length) and every board of the clinics in p_wide; NULLs are ignored.
CREATE FUNCTION queue_board_touch(p_clinics bigint[], p_days date[], p_wide bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO queue_versions_pending (clinic_id, day)
  SELECT k.c, k.d FROM unnest(p_clinics, p_days) k (c, d) WHERE k.c IS NOT NULL AND k.d IS NOT NULL
  UNION
  SELECT w, NULL FROM unnest(p_wide) w WHERE w IS NOT NULL;
END
$$;

-- At the commit of a transaction that touched boards: bumps each of their versions once, then
-- forgets them (the first call of the transaction does it all; the others find nothing).
CREATE FUNCTION queue_versions_flush() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  clinics bigint[];
  days date[];
BEGIN
  WITH mine AS (DELETE FROM queue_versions_pending p WHERE p.xid = pg_current_xact_id() RETURNING p.clinic_id, p.day)
  SELECT array_agg(m.clinic_id), array_agg(m.day) INTO clinics, days FROM mine m;
  IF clinics IS NULL THEN
    RETURN NULL;
  END IF;
  INSERT INTO queue_clinic_versions AS q (clinic_id, version)
  SELECT DISTINCT k.c, 1 FROM unnest(clinics, days) k (c, d) WHERE k.d IS NULL ORDER BY 1
  ON CONFLICT (clinic_id) DO UPDATE SET version = q.version + 1;
  INSERT INTO queue_versions AS q (clinic_id, day, version)
  SELECT DISTINCT k.c, k.d, 1 FROM unnest(clinics, days) k (c, d) WHERE k.d IS NOT NULL ORDER BY 1, 2
  ON CONFLICT (clinic_id, day) DO UPDATE SET version = q.version + 1;
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER queue_versions_pending_flush AFTER INSERT ON queue_versions_pending
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION queue_versions_flush();

-- The boards a statement on visits changed: the (clinic, day) of every row before and after it,
-- and the clinic of every completed row (the medians).
CREATE FUNCTION visits_board_touched() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM queue_board_touch(ARRAY(SELECT n.clinic_id FROM new_rows n), ARRAY(SELECT n.queue_date FROM new_rows n),
                             ARRAY(SELECT n.clinic_id FROM new_rows n WHERE n.status = 'completed'));
  ELSIF TG_OP = 'UPDATE' THEN
    PERFORM queue_board_touch(
      ARRAY(SELECT n.clinic_id FROM new_rows n UNION ALL SELECT o.clinic_id FROM old_rows o),
      ARRAY(SELECT n.queue_date FROM new_rows n UNION ALL SELECT o.queue_date FROM old_rows o),
      ARRAY(SELECT n.clinic_id FROM new_rows n WHERE n.status = 'completed'
            UNION ALL SELECT o.clinic_id FROM old_rows o WHERE o.status = 'completed'));
  ELSE
    PERFORM queue_board_touch(ARRAY(SELECT o.clinic_id FROM old_rows o), ARRAY(SELECT o.queue_date FROM old_rows o),
                             ARRAY(SELECT o.clinic_id FROM old_rows o WHERE o.status = 'completed'));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER visits_board_insert AFTER INSERT ON visits REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION visits_board_touched();
CREATE TRIGGER visits_board_update AFTER UPDATE ON visits REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION visits_board_touched();
CREATE TRIGGER visits_board_delete AFTER DELETE ON visits REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION visits_board_touched();

-- A name the boards show changed (a patient's, a service's, a doctor's): every board of the row's
-- clinic (before and after) is out of date; for a user, the clinic of the doctor they are.
CREATE FUNCTION board_name_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'users' THEN
    PERFORM queue_board_touch('{}', '{}', ARRAY(SELECT d.clinic_id FROM doctors d WHERE d.user_id = NEW.id));
  ELSE
    PERFORM queue_board_touch('{}', '{}', ARRAY[OLD.clinic_id, NEW.clinic_id]);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER patients_board_name AFTER UPDATE OF full_name, clinic_id ON patients
  FOR EACH ROW WHEN (OLD.full_name IS DISTINCT FROM NEW.full_name OR OLD.clinic_id IS DISTINCT FROM NEW.clinic_id)
  EXECUTE FUNCTION board_name_changed();
CREATE TRIGGER services_board_name AFTER UPDATE OF name, clinic_id ON services
  FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.clinic_id IS DISTINCT FROM NEW.clinic_id)
  EXECUTE FUNCTION board_name_changed();
CREATE TRIGGER users_board_name AFTER UPDATE OF full_name ON users
  FOR EACH ROW WHEN (OLD.full_name IS DISTINCT FROM NEW.full_name)
  EXECUTE FUNCTION board_name_changed();
CREATE TRIGGER doctors_board_user AFTER UPDATE OF user_id, clinic_id ON doctors
  FOR EACH ROW WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.clinic_id IS DISTINCT FROM NEW.clinic_id)
  EXECUTE FUNCTION board_name_changed();

-- The stamp of the board of clinic p_clinic on day p_day (NULL: today in the clinic's zone): the
-- day, the instant its times are computed as of (the start of the current minute, UTC), and a text
-- that changes whenever the board's content may have: "<day version>.<clinic version>.<minute>".
-- No row for an unknown clinic. Read on every GET /api/queue, so kept cheap: PL/pgSQL so its plan
-- is prepared once per connection, and today is clinic_day's rule on the clinic row at hand
-- (calling clinic_day would read the clinic again, in a plan made at every call).
CREATE FUNCTION queue_board_stamp(p_clinic bigint, p_day date)
RETURNS TABLE (day date, as_of timestamptz, stamp text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  minute bigint := floor(extract(epoch FROM now()) / 60)::bigint;
BEGIN
  RETURN QUERY
  SELECT d.day, to_timestamp(minute * 60),
         COALESCE((SELECT v.version FROM queue_versions v WHERE v.clinic_id = p_clinic AND v.day = d.day), 0) || '.' ||
         COALESCE((SELECT w.version FROM queue_clinic_versions w WHERE w.clinic_id = p_clinic), 0) || '.' || minute
  FROM (SELECT COALESCE(p_day, (now() AT TIME ZONE c.timezone)::date) AS day FROM clinics c WHERE c.id = p_clinic) d;
END
$$;

-- The day's board of a clinic (optionally one doctor's part of it) as the desk shows it, as of the
-- instant p_as_of: the visits by phase, with names, minutes waited, each waiting patient's place in
-- the doctor's line and the estimated wait from the doctor's recent median consultation time. A
-- function of the database and p_as_of only (ties between medians' visits broken by id), so the
-- same stamp always describes the same board. GET /api/queue passes queue_board_stamp's as_of.
CREATE FUNCTION queue_board(p_clinic bigint, p_doctor bigint, p_day date, p_as_of timestamptz) RETURNS jsonb
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
                           ORDER BY h.end_time DESC, h.id DESC LIMIT 20) h), 15) AS median,
           (SELECT floor(extract(epoch FROM p_as_of - max(w.start_time)) / 60)::integer
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
             'minutes_waited', greatest(0, floor(extract(epoch FROM COALESCE(e.start_time, p_as_of) - e.check_in_time) / 60))::integer,
             'position', e.position,
             'estimated_wait_minutes',
               CASE WHEN e.position IS NOT NULL
                    THEN (e.position - 1) * k.median
                         + CASE WHEN k.busy_minutes IS NULL THEN 0 ELSE greatest(0, k.median - greatest(0, k.busy_minutes)) END
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
    'generated_at', rfc3339(p_as_of),
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

-- The board as of now (the form before the stamp; kept for callers that name no instant).
CREATE OR REPLACE FUNCTION queue_board(p_clinic bigint, p_doctor bigint, p_day date) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT queue_board(p_clinic, p_doctor, p_day, now())
$$;
