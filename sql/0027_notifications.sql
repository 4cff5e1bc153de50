-- The notification inbox and announcements (DESIGN §9; docs/ARCHITECTURE.md "Notifications").
--
-- A notification is one row for one user, written by notify_user() in the transaction of the
-- change that causes it, together with its outbox event `notification` to the personal room
-- user:{id}. notify_user is the one way in: the triggers below call it, and so may any later
-- feature (e.g. a "new message" trigger of conversations):
--   SELECT notify_user(user_id, 'kind', 'title', 'body', '{"any": "data"}'::jsonb);
-- A NULL user (a patient without an account) is a no-op.
--
-- An announcement is stored once, with its audience (a clinic or the installation, optionally one
-- role); each user's inbox reads the announcements of its audience through a union, with per-user
-- read marks in announcement_reads: sending one to 5,000 users is one insert. Notifications and
-- announcements take their ids from one sequence, inbox_ids, so an id names one inbox item.
--
-- Personal rooms: a user:{id} room is that user's alone; an admin's "every room" does not include
-- it (event_visible below, and the signaling-server's rooms_each).
--
-- Retention: inbox_sweep(days, batch) deletes, a bounded batch at a time, notifications read more
-- than `days` ago and announcements sent more than `days` ago; the api-server runs it on the inbox's
-- write path (NOTIFICATION_RETENTION_DAYS).
--
-- Triggers added here: appointments_notify_users (AFTER INSERT OR UPDATE OF status ON appointments:
-- appointment_booked / appointment_cancelled to the doctor's user and the patient's user),
-- closings_notify_doctor (AFTER UPDATE OF status ON closings: closing_to_confirm to the doctor's user
-- when the payment is confirmed and waits for their receipt), payments_notify_patient (AFTER UPDATE
-- OF status ON payments: payment_processed to the patient's user when paid).

CREATE SEQUENCE inbox_ids;

CREATE TABLE notifications (
  id          bigint PRIMARY KEY DEFAULT nextval('inbox_ids'),
  user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind        text NOT NULL CONSTRAINT notifications_kind_check CHECK (kind ~ '^[a-z_]{1,64}$'),
  title       text NOT NULL CONSTRAINT notifications_title_check CHECK (char_length(title) BETWEEN 1 AND 200),
  body        text NOT NULL DEFAULT '' CONSTRAINT notifications_body_check CHECK (char_length(body) <= 5000),
  data        jsonb NOT NULL DEFAULT '{}' CONSTRAINT notifications_data_check CHECK (jsonb_typeof(data) = 'object'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  read_at     timestamptz
);
ALTER SEQUENCE inbox_ids OWNED BY notifications.id;
CREATE INDEX notifications_inbox_idx ON notifications (user_id, id DESC);
-- read_at included: the unread count is an index-only scan.
CREATE INDEX notifications_unread_idx ON notifications (user_id, id DESC) INCLUDE (read_at) WHERE read_at IS NULL;
CREATE INDEX notifications_expiry_idx ON notifications (read_at) WHERE read_at IS NOT NULL;
COMMENT ON TABLE notifications IS
  'Per-user inbox. Written by notify_user alone (which also writes the notification event). Read marks set by '
  'inbox_read / inbox_read_all; read rows expire through inbox_sweep.';

CREATE TABLE announcements (
  id          bigint PRIMARY KEY DEFAULT nextval('inbox_ids'),
  clinic_id   bigint REFERENCES clinics (id) ON DELETE CASCADE,
  role        text CONSTRAINT announcements_role_check CHECK (role IN ('ADMIN', 'RECEPTIONIST', 'DOCTOR', 'PATIENT')),
  title       text NOT NULL CONSTRAINT announcements_title_check CHECK (char_length(title) BETWEEN 1 AND 200),
  body        text NOT NULL CONSTRAINT announcements_body_check CHECK (char_length(body) BETWEEN 1 AND 5000),
  created_by  bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- Admins belong to no clinic: a clinic's announcement cannot be for them.
  CONSTRAINT announcements_audience_check CHECK (clinic_id IS NULL OR role IS DISTINCT FROM 'ADMIN')
);
CREATE INDEX announcements_clinic_idx ON announcements (clinic_id, id DESC);
CREATE INDEX announcements_expiry_idx ON announcements (created_at);

CREATE TABLE announcement_reads (
  user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  announcement_id  bigint NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
  read_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, announcement_id)
);
CREATE INDEX announcement_reads_announcement_idx ON announcement_reads (announcement_id);

-- Whether announcement a is for user u (its clinic or the installation; its role or every role).
CREATE FUNCTION announcement_for(a announcements, u users) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT (a.clinic_id IS NULL OR a.clinic_id = u.clinic_id) AND (a.role IS NULL OR a.role = u.role)
$$;

CREATE FUNCTION notification_json(n notifications) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', n.id, 'kind', n.kind, 'title', n.title, 'body', n.body, 'data', n.data,
                            'created_at', rfc3339(n.created_at), 'read_at', rfc3339(n.read_at))
$$;

-- An announcement as an inbox item of a reader who read it at p_read_at (NULL: unread).
CREATE FUNCTION announcement_item_json(a announcements, p_read_at timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', a.id, 'kind', 'announcement', 'title', a.title, 'body', a.body,
                            'data', jsonb_build_object('announcement_id', a.id, 'clinic_id', a.clinic_id, 'role', a.role),
                            'created_at', rfc3339(a.created_at), 'read_at', rfc3339(p_read_at))
$$;

-- What the sender's side shows of an announcement.
CREATE FUNCTION announcement_json(a announcements) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', a.id, 'clinic_id', a.clinic_id, 'role', a.role, 'title', a.title, 'body', a.body,
                            'created_by', a.created_by, 'created_at', rfc3339(a.created_at))
$$;

-- The one way to notify someone: the inbox row and its live event, in the caller's transaction.
-- Returns the notification's id (NULL when p_user is NULL: nobody to tell).
CREATE FUNCTION notify_user(p_user bigint, p_kind text, p_title text, p_body text, p_data jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  n notifications;
BEGIN
  IF p_user IS NULL THEN
    RETURN NULL;
  END IF;
  INSERT INTO notifications (user_id, kind, title, body, data)
  VALUES (p_user, p_kind, left(p_title, 200), left(COALESCE(p_body, ''), 5000), COALESCE(p_data, '{}'))
  RETURNING * INTO n;
  INSERT INTO events (name, rooms, data)
  VALUES ('notification', ARRAY['user:' || p_user], jsonb_build_object('notification', notification_json(n)));
  RETURN n.id;
END
$$;

-- Personal rooms (user:{id}) are their user's alone: an admin, in every room, is not in another's.
-- p_rooms NULL reads as before (an admin, in every shared room); a '*' element is an admin too,
-- in every shared room plus the personal rooms named beside it.
CREATE OR REPLACE FUNCTION event_visible(e events, p_rooms text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_rooms IS NULL OR '*' = ANY (p_rooms)
              THEN (cardinality(e.except_rooms) = 0 AND e.rooms[1] NOT LIKE 'user:%')
                   OR (p_rooms IS NOT NULL AND e.rooms && p_rooms)
              ELSE e.rooms && p_rooms AND NOT e.except_rooms && p_rooms END
$$;

-- One page of user p_user's inbox, newest first (by id): notifications and the announcements of
-- its audience, after p_before (the cursor's id; NULL: from the newest), unread ones only when
-- p_unread. At most p_limit rows, each (item jsonb, id). Each side is a keyset scan limited to
-- p_limit; the items' JSON is built for the page's rows alone.
CREATE FUNCTION inbox_page(p_user bigint, p_before bigint, p_unread boolean, p_limit integer)
RETURNS TABLE (item jsonb, id bigint)
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN (x.n).id IS NOT NULL THEN notification_json(x.n) ELSE announcement_item_json(x.a, x.read_at) END, x.id
  FROM (
    (SELECT n.id, n, NULL::announcements AS a, NULL::timestamptz AS read_at FROM notifications n
     WHERE n.user_id = p_user AND (p_before IS NULL OR n.id < p_before) AND (NOT p_unread OR n.read_at IS NULL)
     ORDER BY n.id DESC LIMIT p_limit)
    UNION ALL
    (SELECT a.id, NULL::notifications, a, r.read_at
     FROM users u
     JOIN announcements a ON announcement_for(a, u)
     LEFT JOIN announcement_reads r ON r.user_id = u.id AND r.announcement_id = a.id
     WHERE u.id = p_user AND (p_before IS NULL OR a.id < p_before) AND (NOT p_unread OR r.read_at IS NULL)
     ORDER BY a.id DESC LIMIT p_limit)
    ORDER BY id DESC LIMIT p_limit
  ) x
  ORDER BY x.id DESC
$$;

CREATE FUNCTION inbox_unread_count(p_user bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT (SELECT count(*) FROM notifications n WHERE n.user_id = p_user AND n.read_at IS NULL)
       + (SELECT count(*) FROM users u JOIN announcements a ON announcement_for(a, u)
          WHERE u.id = p_user
            AND NOT EXISTS (SELECT 1 FROM announcement_reads r WHERE r.user_id = u.id AND r.announcement_id = a.id))
$$;

-- Marks item p_id of p_user's inbox read (idempotent: a second call keeps the first time).
-- Returns the item, or NULL when p_user has no such item.
CREATE FUNCTION inbox_read(p_user bigint, p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  n notifications;
  a announcements;
  at timestamptz;
BEGIN
  UPDATE notifications SET read_at = COALESCE(read_at, now()) WHERE id = p_id AND user_id = p_user RETURNING * INTO n;
  IF n.id IS NOT NULL THEN
    RETURN notification_json(n);
  END IF;
  SELECT a0.* INTO a FROM announcements a0 JOIN users u ON u.id = p_user AND announcement_for(a0, u) WHERE a0.id = p_id;
  IF a.id IS NULL THEN
    RETURN NULL;
  END IF;
  INSERT INTO announcement_reads (user_id, announcement_id) VALUES (p_user, p_id) ON CONFLICT DO NOTHING;
  SELECT r.read_at INTO at FROM announcement_reads r WHERE r.user_id = p_user AND r.announcement_id = p_id;
  RETURN announcement_item_json(a, at);
END
$$;

-- Marks everything in p_user's inbox read; returns how many items it marked.
CREATE FUNCTION inbox_read_all(p_user bigint) RETURNS bigint
LANGUAGE sql AS $$
  WITH n AS (UPDATE notifications SET read_at = now() WHERE user_id = p_user AND read_at IS NULL RETURNING 1),
       a AS (INSERT INTO announcement_reads (user_id, announcement_id)
             SELECT u.id, a.id FROM users u JOIN announcements a ON announcement_for(a, u) WHERE u.id = p_user
             ON CONFLICT DO NOTHING RETURNING 1)
  SELECT (SELECT count(*) FROM n) + (SELECT count(*) FROM a)
$$;

-- Deletes up to p_batch notifications read more than p_days ago and up to p_batch announcements
-- sent more than p_days ago (with their read marks); returns how many rows went.
CREATE FUNCTION inbox_sweep(p_days integer, p_batch integer) RETURNS integer
LANGUAGE sql AS $$
  WITH n AS (DELETE FROM notifications WHERE id IN (
               SELECT id FROM notifications
               WHERE read_at IS NOT NULL AND read_at < now() - make_interval(days => p_days)
               LIMIT p_batch FOR UPDATE SKIP LOCKED)
             RETURNING 1),
       a AS (DELETE FROM announcements WHERE id IN (
               SELECT id FROM announcements WHERE created_at < now() - make_interval(days => p_days)
               LIMIT p_batch FOR UPDATE SKIP LOCKED)
             RETURNING 1)
  SELECT ((SELECT count(*) FROM n) + (SELECT count(*) FROM a))::integer
$$;

-- Causes -----------------------------------------------------------------------------------------------------------

-- A booking made or cancelled: its doctor's user and its patient's user (if any) are told.
CREATE FUNCTION appointments_notify_users() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  kind text;
  title text;
  doctor_user bigint;
  doctor_name text;
  patient_user bigint;
  patient_name text;
  at_text text;
  data jsonb;
BEGIN
  IF TG_OP = 'INSERT' THEN
    kind := 'appointment_booked';
    title := 'Appointment booked';
  ELSIF NEW.status = 'cancelled' AND OLD.status <> 'cancelled' THEN
    kind := 'appointment_cancelled';
    title := 'Appointment cancelled';
  ELSE
    RETURN NULL;
  END IF;
  SELECT d.user_id, u.full_name INTO doctor_user, doctor_name
  FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = NEW.doctor_id;
  SELECT p.user_id, p.full_name INTO patient_user, patient_name FROM patients p WHERE p.id = NEW.patient_id;
  SELECT clinic_time_text(lower(NEW.period), c.timezone, c.language) INTO at_text FROM clinics c WHERE c.id = NEW.clinic_id;
  data := jsonb_build_object('appointment_id', NEW.id, 'clinic_id', NEW.clinic_id, 'doctor_id', NEW.doctor_id,
                             'patient_id', NEW.patient_id, 'start', rfc3339(lower(NEW.period)), 'status', NEW.status);
  PERFORM notify_user(doctor_user, kind, title, patient_label(patient_name) || ', ' || at_text, data);
  PERFORM notify_user(patient_user, kind, title, doctor_name || ', ' || at_text, data);
  RETURN NULL;
END
$$;
CREATE TRIGGER appointments_notify_users AFTER INSERT OR UPDATE OF status ON appointments
  FOR EACH ROW EXECUTE FUNCTION appointments_notify_users();
COMMENT ON TRIGGER appointments_notify_users ON appointments IS
  'notify_user: appointment_booked / appointment_cancelled to the doctor''s user and the patient''s user.';

-- A closing whose payment the admin confirmed waits for the doctor's confirmation of receipt.
CREATE FUNCTION closings_notify_doctor() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'payment_confirmed' AND OLD.status <> 'payment_confirmed' THEN
    PERFORM notify_user((SELECT d.user_id FROM doctors d WHERE d.id = NEW.doctor_id), 'closing_to_confirm',
                        'Closing ' || to_char(NEW.month, 'YYYY-MM') || ' paid: confirm receipt',
                        'Reference ' || NEW.payment_reference,
                        jsonb_build_object('closing_id', NEW.id, 'month', to_char(NEW.month, 'YYYY-MM'),
                                           'net_cents', NEW.net_cents, 'currency', NEW.currency));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER closings_notify_doctor AFTER UPDATE OF status ON closings
  FOR EACH ROW EXECUTE FUNCTION closings_notify_doctor();
COMMENT ON TRIGGER closings_notify_doctor ON closings IS
  'notify_user: closing_to_confirm to the doctor''s user when the payment is confirmed.';

-- A payment processed: its patient's user (if any) is told.
CREATE FUNCTION payments_notify_patient() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'paid' AND OLD.status = 'pending' THEN
    PERFORM notify_user((SELECT p.user_id FROM patients p WHERE p.id = NEW.patient_id), 'payment_processed',
                        'Payment received', NEW.amount_cents || ' ' || NEW.currency,
                        jsonb_build_object('payment_id', NEW.id, 'visit_id', NEW.visit_id,
                                           'amount_cents', NEW.amount_cents, 'currency', NEW.currency));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER payments_notify_patient AFTER UPDATE OF status ON payments
  FOR EACH ROW EXECUTE FUNCTION payments_notify_patient();
COMMENT ON TRIGGER payments_notify_patient ON payments IS
  'notify_user: payment_processed to the patient''s user when the payment is paid.';
