-- Events as each reader needs them: one copy of each event per connection (DESIGN §8), the
-- patient's own room in a video consultation, and patient_with_doctor's history as flat visits.
--
-- A logical event may be written as several rows, each shaped for its rooms: a payment goes in
-- full to its doctor's room and as ids and status to the clinic's room. A reader in both rooms
-- (the doctor, an admin) must get one copy, the most specific. The general copy names the rooms
-- of the specific ones in except_rooms, and event_visible is the one rule every reader applies: the
-- signaling-server's replay and GET /api/events here, the signaling-server's live delivery in C
-- with the same meaning (a reader in every room, an admin, is also in the excepted ones).
--
-- Triggers added here: video_participants_doctor_ready (AFTER INSERT OR UPDATE OF state ON
-- video_participants) tells the patient's room that the doctor is in the room waiting for them.

ALTER TABLE events ADD COLUMN except_rooms text[] NOT NULL DEFAULT '{}';

-- Whether a reader in p_rooms (NULL: an admin, in every room) receives e.
CREATE FUNCTION event_visible(e events, p_rooms text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_rooms IS NULL THEN cardinality(e.except_rooms) = 0
              ELSE e.rooms && p_rooms AND NOT e.except_rooms && p_rooms END
$$;

CREATE OR REPLACE FUNCTION payments_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status = OLD.status AND NEW.refunded_cents = OLD.refunded_cents THEN
    RETURN NULL;
  END IF;
  INSERT INTO events (name, rooms, except_rooms, data)
  VALUES ('payment_processed', ARRAY['doctor:' || NEW.doctor_id], '{}', jsonb_build_object('payment', payment_json(NEW))),
         ('payment_processed', ARRAY['clinic:' || NEW.clinic_id], ARRAY['doctor:' || NEW.doctor_id],
          jsonb_build_object('payment', jsonb_build_object('id', NEW.id, 'visit_id', NEW.visit_id,
                                                           'doctor_id', NEW.doctor_id, 'status', NEW.status)));
  RETURN NULL;
END
$$;

-- A session's status changes also reach its patient: opened, admitted, ended (a patient app rings).
CREATE OR REPLACE FUNCTION video_sessions_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status = OLD.status THEN
    RETURN NULL;
  END IF;
  INSERT INTO events (name, rooms, data)
  VALUES ('video_session_updated', video_rooms(NEW) || ('patient:' || NEW.patient_id),
          jsonb_build_object('session', video_session_summary_json(NEW)));
  RETURN NULL;
END
$$;

-- The doctor is in the room and the patient is not admitted yet: the patient's room hears it.
CREATE FUNCTION video_participants_doctor_ready() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
BEGIN
  IF NEW.role <> 'doctor' OR NEW.state <> 'joined' OR (TG_OP = 'UPDATE' AND OLD.state = 'joined') THEN
    RETURN NULL;
  END IF;
  SELECT * INTO s FROM video_sessions WHERE id = NEW.session_id;
  IF s.status IN ('scheduled', 'waiting') THEN
    INSERT INTO events (name, rooms, data)
    VALUES ('video_doctor_ready', ARRAY['patient:' || s.patient_id],
            jsonb_build_object('session_id', s.id, 'appointment_id', s.appointment_id, 'doctor_id', s.doctor_id,
                               'doctor_name', NEW.display_name));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER video_participants_doctor_ready AFTER INSERT OR UPDATE OF state ON video_participants
  FOR EACH ROW EXECUTE FUNCTION video_participants_doctor_ready();

-- patient_with_doctor's visit_history, as the product's frontends read it: flat visit objects (the
-- visit's own fields at the top level) with the service's name, the payment's status and the
-- evolution; the patient's 10 most recent other visits with this doctor, newest first.
CREATE FUNCTION history_visit_json(v visits) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT visit_json(v) || (history_item_json(v) - 'visit')
$$;

CREATE FUNCTION patient_with_doctor_history(cur visits) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT COALESCE(jsonb_agg(history_visit_json(h) ORDER BY h.check_in_time DESC, h.id DESC), '[]'::jsonb)
  FROM (SELECT * FROM visits h
        WHERE h.patient_id = cur.patient_id AND h.doctor_id = cur.doctor_id AND h.id <> cur.id
        ORDER BY h.check_in_time DESC, h.id DESC LIMIT 10) h
$$;

-- The same announcements as before (sql/0004_visits.sql), the history now from the function above.
CREATE OR REPLACE FUNCTION visits_announce() RETURNS trigger
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
               'visit_history', patient_with_doctor_history(NEW));
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
