-- Appointment reminders and reschedule notices (docs/ARCHITECTURE.md "The delivery queue", DESIGN §10).
--
-- The schedule: appointment_reminders holds one row per confirmed appointment and lead (minutes before
-- its start) whose time is still to come; its only writer is reminders_plan, called by the trigger
-- appointments_plan_reminders whenever an appointment is booked, changes status or moves, and by
-- reminder_leads_set when the leads change. A due row is turned into deliveries by reminders_release,
-- which the senders run at every claim (delivery_claim): the message is rendered then, so it shows the
-- appointment, the patient's contacts and opt-outs as they are when it goes out.
--
-- The leads are the api-server's REMINDER_LEAD_MINUTES: every `serve` and `deliver` writes them at
-- start into reminder_settings (reminder_leads_set), the one row the planner reads. No row: no
-- reminders (a database no server has started against yet).

CREATE TABLE reminder_settings (
  id            boolean PRIMARY KEY DEFAULT true CONSTRAINT reminder_settings_id_check CHECK (id),
  lead_minutes  integer[] NOT NULL CONSTRAINT reminder_settings_lead_minutes_check
                  CHECK (cardinality(lead_minutes) <= 10 AND array_position(lead_minutes, NULL) IS NULL
                         AND 1 <= ALL (lead_minutes) AND 43200 >= ALL (lead_minutes)),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One reminder per appointment and lead: the primary key is the "never two" rule.
CREATE TABLE appointment_reminders (
  appointment_id  bigint NOT NULL REFERENCES appointments (id) ON DELETE CASCADE,
  lead_minutes    integer NOT NULL CONSTRAINT appointment_reminders_lead_minutes_check CHECK (lead_minutes BETWEEN 1 AND 43200),
  due_at          timestamptz NOT NULL,
  PRIMARY KEY (appointment_id, lead_minutes)
);
CREATE INDEX appointment_reminders_due_idx ON appointment_reminders (due_at);

-- A new reminder may be due sooner than the senders' next wake-up: they are told (on the delivery
-- queue's channel, payload 'reminder'; one notification per transaction), look at the queue and set
-- their timers again.
CREATE FUNCTION appointment_reminders_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('deliveries', 'reminder');
  RETURN NULL;
END
$$;
CREATE TRIGGER appointment_reminders_wake AFTER INSERT ON appointment_reminders
  FOR EACH ROW EXECUTE FUNCTION appointment_reminders_wake();

-- Plans the reminders of appointments p_ids from scratch: what was scheduled is dropped (and, with
-- p_withdraw, a reminder already released but not yet sent: queued, it would show a time that may no
-- longer hold); then, for each of them that is confirmed, one row per lead whose time is still ahead
-- (a lead already past is not sent). Set-based, so planning every upcoming appointment again stays
-- one pass.
CREATE FUNCTION reminders_plan(p_ids bigint[], p_withdraw boolean) RETURNS void
LANGUAGE sql AS $$
  DELETE FROM appointment_reminders WHERE appointment_id = ANY (p_ids);
  DELETE FROM deliveries d
  WHERE p_withdraw AND d.entity = 'appointment' AND d.entity_id = ANY (p_ids) AND d.kind = 'appointment_reminder'
    AND d.status = 'queued';
  INSERT INTO appointment_reminders (appointment_id, lead_minutes, due_at)
  SELECT a.id, l, lower(a.period) - make_interval(mins => l)
  FROM appointments a, reminder_settings s, unnest(s.lead_minutes) AS l
  WHERE a.id = ANY (p_ids) AND a.status = 'confirmed' AND lower(a.period) - make_interval(mins => l) > now();
$$;

CREATE FUNCTION appointments_plan_reminders() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR OLD.status <> NEW.status OR lower(OLD.period) <> lower(NEW.period) THEN
    PERFORM reminders_plan(ARRAY[NEW.id], true);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER appointments_plan_reminders AFTER INSERT OR UPDATE OF status, period ON appointments
  FOR EACH ROW EXECUTE FUNCTION appointments_plan_reminders();

-- Writes the leads (REMINDER_LEAD_MINUTES of the server starting). When they differ from the stored
-- ones, every upcoming confirmed appointment is planned again with them (a reminder already queued
-- stays: its appointment did not change). Returns whether they changed.
CREATE FUNCTION reminder_leads_set(p_leads integer[]) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  was integer[];
BEGIN
  SELECT lead_minutes INTO was FROM reminder_settings FOR UPDATE;
  IF was IS NOT DISTINCT FROM p_leads THEN
    RETURN false;
  END IF;
  INSERT INTO reminder_settings (lead_minutes) VALUES (p_leads)
  ON CONFLICT (id) DO UPDATE SET lead_minutes = EXCLUDED.lead_minutes, updated_at = now();
  PERFORM reminders_plan(ARRAY(SELECT a.id FROM appointments a WHERE a.status = 'confirmed' AND lower(a.period) > now()),
                         false);
  RETURN true;
END
$$;

-- Turns up to p_limit due reminders into deliveries (kind appointment_reminder), rendered now, and
-- removes them from the schedule. Concurrent callers skip each other's rows, so a reminder is
-- released once. One whose appointment has begun meanwhile (the senders were away) is dropped unsent.
CREATE FUNCTION reminders_release(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  a appointments;
  n integer := 0;
BEGIN
  FOR a IN
    WITH due AS (
      DELETE FROM appointment_reminders r
      WHERE (r.appointment_id, r.lead_minutes) IN (
        SELECT x.appointment_id, x.lead_minutes FROM appointment_reminders x WHERE x.due_at <= now()
        ORDER BY x.due_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
      RETURNING r.appointment_id)
    SELECT ap.* FROM due JOIN appointments ap ON ap.id = due.appointment_id
    WHERE ap.status = 'confirmed' AND lower(ap.period) > now()
  LOOP
    PERFORM delivery_enqueue_appointment(a, 'appointment_reminder');
    n := n + 1;
  END LOOP;
  RETURN n;
END
$$;

-- The senders' claim (0021) releases the due reminders first, so whichever sender looks at the queue
-- when a reminder's time comes queues it, and the claim that follows can take it at once.
CREATE OR REPLACE FUNCTION delivery_claim(p_channels text[], p_limit integer, p_lease uuid, p_lease_seconds integer)
RETURNS SETOF deliveries
LANGUAGE sql AS $$
  SELECT reminders_release(100);
  WITH c AS (SELECT d.id FROM deliveries d
             WHERE d.status IN ('queued', 'sending') AND d.channel = ANY (p_channels) AND d.next_attempt_at <= now()
             ORDER BY d.next_attempt_at, d.id LIMIT p_limit FOR UPDATE SKIP LOCKED)
  UPDATE deliveries d SET status = 'sending', attempts = d.attempts + 1, lease = p_lease,
                          next_attempt_at = now() + make_interval(secs => p_lease_seconds)
  FROM c WHERE d.id = c.id
  RETURNING d.*
$$;

-- Seconds until the next row of p_channels, or the next reminder, is due (NULL: none waiting).
CREATE OR REPLACE FUNCTION delivery_next_due(p_channels text[]) RETURNS double precision
LANGUAGE sql STABLE AS $$
  SELECT greatest(0, extract(epoch FROM least(
           (SELECT min(d.next_attempt_at) FROM deliveries d
            WHERE d.status IN ('queued', 'sending') AND d.channel = ANY (p_channels)),
           (SELECT min(r.due_at) FROM appointment_reminders r)) - now()))::double precision
$$;

-- delivery_enqueue_appointment with extra template values (p_vars, e.g. the reschedule's old_time);
-- the two-argument form (0021, 0022) now calls this one.
CREATE FUNCTION delivery_enqueue_appointment(a appointments, p_kind text, p_vars jsonb) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO deliveries (channel, kind, recipient, payload, clinic_id, entity, entity_id)
  SELECT t.channel, p_kind, CASE t.channel WHEN 'email' THEN p.email ELSE p.phone END,
         message_payload(t, v.vars || p_vars, p.full_name), a.clinic_id, 'appointment', a.id
  FROM patients p
  JOIN clinics c ON c.id = a.clinic_id
  CROSS JOIN LATERAL (SELECT jsonb_build_object(
                        'patient', p.full_name, 'clinic', c.name,
                        'doctor', (SELECT u.full_name FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = a.doctor_id),
                        'time', clinic_time_text(lower(a.period), c.timezone, c.language)) AS vars) v
  JOIN message_templates t ON t.kind = p_kind AND t.language = c.language
  WHERE p.id = a.patient_id
    AND ((t.channel = 'email' AND p.notify_email AND p.email IS NOT NULL)
      OR (t.channel = 'sms' AND p.notify_sms AND p.phone IS NOT NULL))
$$;

CREATE OR REPLACE FUNCTION delivery_enqueue_appointment(a appointments, p_kind text) RETURNS void
LANGUAGE sql AS $$
  SELECT delivery_enqueue_appointment(a, p_kind, '{}'::jsonb)
$$;

-- The reschedule notice: an appointment still to happen (requested or confirmed) whose start moved is
-- announced to its patient with the old and the new time, like a cancellation (opt-outs respected).
CREATE FUNCTION appointments_notify_reschedule() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM delivery_enqueue_appointment(NEW, 'appointment_reschedule', jsonb_build_object(
            'old_time', (SELECT clinic_time_text(lower(OLD.period), c.timezone, c.language)
                         FROM clinics c WHERE c.id = NEW.clinic_id)));
  RETURN NULL;
END
$$;
CREATE TRIGGER appointments_notify_reschedule AFTER UPDATE OF period ON appointments
  FOR EACH ROW WHEN (lower(OLD.period) <> lower(NEW.period) AND NEW.status IN ('requested', 'confirmed'))
  EXECUTE FUNCTION appointments_notify_reschedule();

-- Appointment reminders and reschedule notices, per language and channel.
INSERT INTO message_templates (kind, language, channel, subject, body_text, body_html) VALUES
('appointment_reminder', 'pt-BR', 'email', '{{clinic}}: lembrete da sua consulta em {{time}}',
 E'Olá, {{patient}}.\n\nLembrete: sua consulta com {{doctor}} em {{clinic}} é em {{time}}.\n\nSe não puder comparecer, avise a clínica.\n',
 '<p>Olá, {{patient}}.</p><p>Lembrete: sua consulta com <b>{{doctor}}</b> em <b>{{clinic}}</b> é em <b>{{time}}</b>.</p><p>Se não puder comparecer, avise a clínica.</p>'),
('appointment_reminder', 'en', 'email', '{{clinic}}: reminder of your appointment on {{time}}',
 E'Hello {{patient}},\n\nA reminder: your appointment with {{doctor}} at {{clinic}} is on {{time}}.\n\nIf you cannot come, please let the clinic know.\n',
 '<p>Hello {{patient}},</p><p>A reminder: your appointment with <b>{{doctor}}</b> at <b>{{clinic}}</b> is on <b>{{time}}</b>.</p><p>If you cannot come, please let the clinic know.</p>'),
('appointment_reminder', 'pt-BR', 'sms', NULL, '{{clinic}}: lembrete da consulta com {{doctor}} em {{time}}.', NULL),
('appointment_reminder', 'en', 'sms', NULL, '{{clinic}}: reminder of your appointment with {{doctor}} on {{time}}.', NULL),
('appointment_reschedule', 'pt-BR', 'email', '{{clinic}}: consulta remarcada para {{time}}',
 E'Olá, {{patient}}.\n\nSua consulta com {{doctor}} em {{clinic}}, que era em {{old_time}}, foi remarcada para {{time}}.\n\nSe não puder comparecer, avise a clínica.\n',
 '<p>Olá, {{patient}}.</p><p>Sua consulta com <b>{{doctor}}</b> em <b>{{clinic}}</b>, que era em {{old_time}}, foi remarcada para <b>{{time}}</b>.</p><p>Se não puder comparecer, avise a clínica.</p>'),
('appointment_reschedule', 'en', 'email', '{{clinic}}: appointment moved to {{time}}',
 E'Hello {{patient}},\n\nYour appointment with {{doctor}} at {{clinic}}, which was on {{old_time}}, has been moved to {{time}}.\n\nIf you cannot come, please let the clinic know.\n',
 '<p>Hello {{patient}},</p><p>Your appointment with <b>{{doctor}}</b> at <b>{{clinic}}</b>, which was on {{old_time}}, has been moved to <b>{{time}}</b>.</p><p>If you cannot come, please let the clinic know.</p>'),
('appointment_reschedule', 'pt-BR', 'sms', NULL, '{{clinic}}: consulta com {{doctor}} remarcada de {{old_time}} para {{time}}.', NULL),
('appointment_reschedule', 'en', 'sms', NULL, '{{clinic}}: appointment with {{doctor}} moved from {{old_time}} to {{time}}.', NULL);

COMMENT ON TABLE appointment_reminders IS
  'The reminder schedule: written only by reminders_plan (trigger appointments_plan_reminders, reminder_leads_set), '
  'emptied by reminders_release (run by delivery_claim), which queues each due reminder as a delivery.';
COMMENT ON TRIGGER appointments_plan_reminders ON appointments IS
  'Plans the appointment''s reminders again when it is booked, changes status or moves (reminders_plan).';
COMMENT ON TRIGGER appointments_notify_reschedule ON appointments IS
  'Queues the reschedule notice (old and new time) when a requested or confirmed appointment''s start moves.';
COMMENT ON TABLE appointments IS
  'Bookings. Triggers acting at a distance: appointments_video_follow (cancelled, no_show, another doctor, no longer '
  'video: the open video session ends; moved in time: its expiry moves), appointments_notify_patient (sql/0021: the '
  'patient''s message queued in deliveries), appointments_notify_reschedule (sql/0024: the reschedule notice), '
  'appointments_plan_reminders (sql/0024: the reminder schedule). Changed by visits too: a check-in '
  '(appointment_check_in), a completion (visit_complete), a visit that leaves (visits_close_appointment).';
