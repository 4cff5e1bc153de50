-- Outbound messages (docs/ARCHITECTURE.md "The delivery queue", DESIGN §10): one durable queue of
-- deliveries (e-mail, SMS, webhook calls), each row written in the transaction of the change that
-- causes it, by the trigger or function that owns that change; senders (api-server/delivery.c)
-- claim rows with FOR UPDATE SKIP LOCKED under a lease and report back through delivery_finish.
--
-- A delivery's states: queued -> sending (claimed, leased until next_attempt_at) -> delivered, or
-- back to queued after a failed attempt (next_attempt_at pushed by exponential backoff with
-- jitter), or failed after the last attempt; failed -> queued again only by an admin's retry. A
-- sender that dies mid-send leaves its row 'sending' with a lease in the past: the next claim takes
-- it again, so nothing is lost (at least once; every message carries the delivery id).

-- The language a clinic writes to its patients in (templates exist for these).
ALTER TABLE clinics ADD COLUMN language text NOT NULL DEFAULT 'pt-BR'
  CONSTRAINT clinics_language_check CHECK (language IN ('pt-BR', 'en'));

CREATE OR REPLACE FUNCTION clinic_json(c clinics) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', c.id, 'name', c.name, 'timezone', c.timezone, 'currency', c.currency,
                            'language', c.language, 'created_at', rfc3339(c.created_at))
$$;

-- The patient's channel choice. Opted in by default: with no e-mail (or phone) on the record
-- nothing is sent on that channel anyway, and adding the contact later starts the messages.
ALTER TABLE patients ADD COLUMN notify_email boolean NOT NULL DEFAULT true,
                     ADD COLUMN notify_sms boolean NOT NULL DEFAULT true;

CREATE OR REPLACE FUNCTION patient_json(p patients) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', p.id, 'clinic_id', p.clinic_id, 'full_name', p.full_name, 'phone', p.phone, 'email', p.email,
    'birth_date', to_char(p.birth_date, 'YYYY-MM-DD'), 'sex', p.sex, 'cpf', p.cpf,
    'medical_history', p.medical_history, 'user_id', p.user_id,
    'notify_email', p.notify_email, 'notify_sms', p.notify_sms,
    'created_at', rfc3339(p.created_at), 'updated_at', rfc3339(p.updated_at))
$$;

-- Triggers on deliveries: deliveries_touch (updated_at), deliveries_wake (NOTIFY the senders when a
-- row becomes due now).
CREATE TABLE deliveries (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel          text NOT NULL CONSTRAINT deliveries_channel_check CHECK (channel IN ('email', 'sms', 'webhook')),
  kind             text NOT NULL CONSTRAINT deliveries_kind_check CHECK (char_length(kind) BETWEEN 1 AND 60),
  recipient        text NOT NULL CONSTRAINT deliveries_recipient_check CHECK (char_length(recipient) BETWEEN 1 AND 2000),
  -- e-mail: {to_name, subject, text, html}; sms: {body}; rendered when queued.
  payload          jsonb NOT NULL,
  status           text NOT NULL DEFAULT 'queued' CONSTRAINT deliveries_status_check
                     CHECK (status IN ('queued', 'sending', 'delivered', 'failed')),
  attempts         integer NOT NULL DEFAULT 0 CONSTRAINT deliveries_attempts_check CHECK (attempts >= 0),
  -- queued: not before; sending: the lease's end (past it, another sender may take the row).
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  lease            uuid,
  last_error       text CONSTRAINT deliveries_last_error_check CHECK (char_length(last_error) <= 1000),
  clinic_id        bigint REFERENCES clinics (id) ON DELETE RESTRICT,
  entity           text,
  entity_id        bigint,
  delivered_at     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT deliveries_lease_check CHECK ((status = 'sending') = (lease IS NOT NULL)),
  CONSTRAINT deliveries_delivered_check CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX deliveries_due_idx ON deliveries (channel, next_attempt_at) WHERE status IN ('queued', 'sending');
CREATE INDEX deliveries_list_idx ON deliveries (id DESC);
CREATE INDEX deliveries_clinic_idx ON deliveries (clinic_id, id DESC);
CREATE INDEX deliveries_entity_idx ON deliveries (entity, entity_id);
CREATE TRIGGER deliveries_touch BEFORE UPDATE ON deliveries FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- The senders LISTEN on "deliveries"; the payload is the channel, so one transaction queueing
-- many rows sends one notification per channel. Rows due later are found by the senders' timers.
CREATE FUNCTION deliveries_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('deliveries', NEW.channel);
  RETURN NULL;
END
$$;
CREATE TRIGGER deliveries_wake AFTER INSERT OR UPDATE OF status ON deliveries
  FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION deliveries_wake();

CREATE FUNCTION delivery_json(d deliveries) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', d.id, 'channel', d.channel, 'kind', d.kind, 'recipient', d.recipient, 'status', d.status,
    'attempts', d.attempts, 'next_attempt_at', CASE WHEN d.status = 'queued' THEN rfc3339(d.next_attempt_at) END,
    'last_error', d.last_error, 'clinic_id', d.clinic_id, 'entity', d.entity, 'entity_id', d.entity_id,
    'subject', d.payload->>'subject', 'delivered_at', rfc3339(d.delivered_at),
    'created_at', rfc3339(d.created_at), 'updated_at', rfc3339(d.updated_at))
$$;

-- Claims up to p_limit due rows of p_channels for one sender (lease p_lease for p_lease_seconds):
-- queued rows whose time has come and sending rows whose lease ran out (their sender died).
-- Counts the attempt. Concurrent claims skip each other's rows.
CREATE FUNCTION delivery_claim(p_channels text[], p_limit integer, p_lease uuid, p_lease_seconds integer)
RETURNS SETOF deliveries
LANGUAGE sql AS $$
  WITH c AS (SELECT d.id FROM deliveries d
             WHERE d.status IN ('queued', 'sending') AND d.channel = ANY (p_channels) AND d.next_attempt_at <= now()
             ORDER BY d.next_attempt_at, d.id LIMIT p_limit FOR UPDATE SKIP LOCKED)
  UPDATE deliveries d SET status = 'sending', attempts = d.attempts + 1, lease = p_lease,
                          next_attempt_at = now() + make_interval(secs => p_lease_seconds)
  FROM c WHERE d.id = c.id
  RETURNING d.*
$$;

-- Seconds until the next row of p_channels is due (NULL: none waiting), for the senders' timers.
CREATE FUNCTION delivery_next_due(p_channels text[]) RETURNS double precision
LANGUAGE sql STABLE AS $$
  SELECT greatest(0, extract(epoch FROM min(d.next_attempt_at) - now()))::double precision
  FROM deliveries d WHERE d.status IN ('queued', 'sending') AND d.channel = ANY (p_channels)
$$;

-- The outcome of one attempt under lease p_lease: p_error NULL = delivered; otherwise queued again
-- after min(p_max_ms, p_base_ms * 2^(attempts-1)) scaled by a random factor in [0.5, 1) (and not
-- before p_min_delay_ms, a receiver's Retry-After), or failed once attempts reach p_max_attempts.
-- Returns the new status, or NULL when the lease was lost (another sender took the row meanwhile).
CREATE FUNCTION delivery_finish(p_id bigint, p_lease uuid, p_error text, p_max_attempts integer,
                                p_base_ms bigint, p_max_ms bigint, p_min_delay_ms bigint) RETURNS text
LANGUAGE sql AS $$
  UPDATE deliveries d SET
    status = CASE WHEN p_error IS NULL THEN 'delivered' WHEN d.attempts >= p_max_attempts THEN 'failed'
                  ELSE 'queued' END,
    lease = NULL,
    delivered_at = CASE WHEN p_error IS NULL THEN now() END,
    last_error = COALESCE(left(p_error, 1000), d.last_error),
    next_attempt_at = CASE WHEN p_error IS NULL OR d.attempts >= p_max_attempts THEN now()
                           ELSE now() + make_interval(secs => greatest(p_min_delay_ms,
                                  least(p_max_ms, p_base_ms * (2::numeric ^ least(d.attempts - 1, 40)))
                                  * (0.5 + random() / 2)) / 1000.0) END
  WHERE d.id = p_id AND d.lease = p_lease AND d.status = 'sending'
  RETURNING d.status
$$;

-- Gives a row back untried (a sender shutting down mid-send): queued now, the attempt uncounted.
CREATE FUNCTION delivery_release(p_id bigint, p_lease uuid) RETURNS void
LANGUAGE sql AS $$
  UPDATE deliveries d SET status = 'queued', lease = NULL, attempts = greatest(d.attempts - 1, 0),
                          next_attempt_at = now()
  WHERE d.id = p_id AND d.lease = p_lease AND d.status = 'sending'
$$;

-- An admin's retry of a failed delivery: queued now with its attempts reset (a 409 otherwise).
CREATE FUNCTION delivery_retry(p_id bigint) RETURNS deliveries
LANGUAGE sql AS $$
  UPDATE deliveries d SET status = state_transition(d.status, ARRAY['failed'], 'queued', 'delivery'),
                          attempts = 0, next_attempt_at = now()
  WHERE d.id = p_id
  RETURNING d.*
$$;

-- Message templates, one per kind, language and channel. Placeholders {{name}} are replaced by
-- message_render; in HTML the values are escaped.
CREATE TABLE message_templates (
  kind       text NOT NULL,
  language   text NOT NULL CONSTRAINT message_templates_language_check CHECK (language IN ('pt-BR', 'en')),
  channel    text NOT NULL CONSTRAINT message_templates_channel_check CHECK (channel IN ('email', 'sms')),
  subject    text,
  body_text  text NOT NULL,
  body_html  text,
  PRIMARY KEY (kind, language, channel),
  CONSTRAINT message_templates_email_check CHECK ((channel = 'email') = (subject IS NOT NULL AND body_html IS NOT NULL))
);

CREATE FUNCTION html_escape(s text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT replace(replace(replace(replace(replace(s, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'),
                 '''', '&#39;')
$$;

CREATE FUNCTION message_render(tpl text, vars jsonb, p_html boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  k text;
  v text;
BEGIN
  FOR k, v IN SELECT key, value FROM jsonb_each_text(vars) LOOP
    tpl := replace(tpl, '{{' || k || '}}', CASE WHEN p_html THEN html_escape(COALESCE(v, '')) ELSE COALESCE(v, '') END);
  END LOOP;
  RETURN tpl;
END
$$;

-- An instant as the clinic's patients read it: their zone's wall clock, in their language.
CREATE FUNCTION clinic_time_text(t timestamptz, tz text, lang text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE lang WHEN 'en' THEN to_char(t AT TIME ZONE tz, 'YYYY-MM-DD "at" HH24:MI')
                   ELSE to_char(t AT TIME ZONE tz, 'DD/MM/YYYY "às" HH24:MI') END || ' (' || tz || ')'
$$;

INSERT INTO message_templates (kind, language, channel, subject, body_text, body_html) VALUES
('appointment_confirmation', 'pt-BR', 'email', '{{clinic}}: consulta confirmada para {{time}}',
 E'Olá, {{patient}}.\n\nSua consulta com {{doctor}} em {{clinic}} está confirmada para {{time}}.\n\nSe não puder comparecer, avise a clínica.\n',
 '<p>Olá, {{patient}}.</p><p>Sua consulta com <b>{{doctor}}</b> em <b>{{clinic}}</b> está confirmada para <b>{{time}}</b>.</p><p>Se não puder comparecer, avise a clínica.</p>'),
('appointment_confirmation', 'en', 'email', '{{clinic}}: appointment confirmed for {{time}}',
 E'Hello {{patient}},\n\nYour appointment with {{doctor}} at {{clinic}} is confirmed for {{time}}.\n\nIf you cannot come, please let the clinic know.\n',
 '<p>Hello {{patient}},</p><p>Your appointment with <b>{{doctor}}</b> at <b>{{clinic}}</b> is confirmed for <b>{{time}}</b>.</p><p>If you cannot come, please let the clinic know.</p>'),
('appointment_cancellation', 'pt-BR', 'email', '{{clinic}}: consulta de {{time}} cancelada',
 E'Olá, {{patient}}.\n\nSua consulta com {{doctor}} em {{clinic}} marcada para {{time}} foi cancelada.\n',
 '<p>Olá, {{patient}}.</p><p>Sua consulta com <b>{{doctor}}</b> em <b>{{clinic}}</b> marcada para <b>{{time}}</b> foi cancelada.</p>'),
('appointment_cancellation', 'en', 'email', '{{clinic}}: appointment on {{time}} cancelled',
 E'Hello {{patient}},\n\nYour appointment with {{doctor}} at {{clinic}} on {{time}} has been cancelled.\n',
 '<p>Hello {{patient}},</p><p>Your appointment with <b>{{doctor}}</b> at <b>{{clinic}}</b> on <b>{{time}}</b> has been cancelled.</p>'),
('appointment_confirmation', 'pt-BR', 'sms', NULL, '{{clinic}}: consulta com {{doctor}} confirmada para {{time}}.', NULL),
('appointment_confirmation', 'en', 'sms', NULL, '{{clinic}}: appointment with {{doctor}} confirmed for {{time}}.', NULL),
('appointment_cancellation', 'pt-BR', 'sms', NULL, '{{clinic}}: consulta de {{time}} com {{doctor}} cancelada.', NULL),
('appointment_cancellation', 'en', 'sms', NULL, '{{clinic}}: appointment on {{time}} with {{doctor}} cancelled.', NULL);

-- Queues message kind p_kind about appointment a to its patient, on each channel the patient
-- chose and has a contact for, rendered in the clinic's language and zone.
CREATE FUNCTION delivery_enqueue_appointment(a appointments, p_kind text) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO deliveries (channel, kind, recipient, payload, clinic_id, entity, entity_id)
  SELECT t.channel, p_kind, CASE t.channel WHEN 'email' THEN p.email ELSE p.phone END,
         CASE t.channel
           WHEN 'email' THEN jsonb_build_object('to_name', p.full_name, 'subject', message_render(t.subject, v.vars, false),
                                                'text', message_render(t.body_text, v.vars, false),
                                                'html', message_render(t.body_html, v.vars, true))
           ELSE jsonb_build_object('body', message_render(t.body_text, v.vars, false)) END,
         a.clinic_id, 'appointment', a.id
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

-- What an appointment's patient is told: a confirmation when it is booked confirmed (or a request
-- is confirmed), a notice when it is cancelled. In the transaction of the change.
CREATE FUNCTION appointments_notify_patient() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status = 'confirmed' THEN
      PERFORM delivery_enqueue_appointment(NEW, 'appointment_confirmation');
    END IF;
  ELSIF NEW.status = 'cancelled' AND OLD.status <> 'cancelled' THEN
    PERFORM delivery_enqueue_appointment(NEW, 'appointment_cancellation');
  ELSIF NEW.status = 'confirmed' AND OLD.status = 'requested' THEN
    PERFORM delivery_enqueue_appointment(NEW, 'appointment_confirmation');
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER appointments_notify_patient AFTER INSERT OR UPDATE OF status ON appointments
  FOR EACH ROW EXECUTE FUNCTION appointments_notify_patient();
