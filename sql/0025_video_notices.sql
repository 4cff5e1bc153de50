-- Video consultation messages to the patient (DESIGN §10, docs/ARCHITECTURE.md §4 "Video notices" and §14): the
-- invitation link queued to the patient's channels in the transaction that creates the invitation, and one
-- "your doctor is ready" notice per session, with a fresh single-use invitation link.
--
-- The doctor-ready rule has one owner, video_doctor_ready_notify: the session still before any admission
-- (scheduled or waiting) and unexpired, its appointment's start come, the doctor in the room (joined), the
-- patient neither waiting nor in the call (no participant row, or left), and no notice yet for the session
-- (video_notices' primary key: once per session, whatever races). Two callers: the trigger on the doctor's
-- arrival in the room (a doctor who comes at or after the start), and video_doctor_ready_sweep, which the
-- signaling-server's housekeeping runs with video_sweep (a doctor already in the room when the start comes,
-- or a patient who left while the doctor waits).
--
-- The links: an invitation code exists in clear only in the API's answer and in the queued message; the
-- message's payload loses its text once delivered (as the account links' do, sql/0022). The base URL is the
-- API's VIDEO_INVITE_URL, kept on the session (join_url) when the API opens it or invites to it, so the
-- database can make the doctor-ready link without the API.

ALTER TABLE video_sessions ADD COLUMN join_url text
  CONSTRAINT video_sessions_join_url_check CHECK (join_url ~ '^https?://' AND char_length(join_url) <= 1000);

CREATE TABLE video_notices (
  session_id     bigint NOT NULL REFERENCES video_sessions (id) ON DELETE CASCADE,
  kind           text NOT NULL CONSTRAINT video_notices_kind_check CHECK (kind IN ('doctor_ready')),
  invitation_id  bigint REFERENCES video_invitations (id) ON DELETE SET NULL,
  channels       text[] NOT NULL DEFAULT '{}',
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (session_id, kind)
);

INSERT INTO message_templates (kind, language, channel, subject, body_text, body_html) VALUES
('video_invitation', 'pt-BR', 'email', '{{clinic}}: sua teleconsulta de {{time}}',
 E'Olá, {{patient}}.\n\nSua teleconsulta com {{doctor}} em {{clinic}} está marcada para {{time}}. Para entrar na sala de espera, abra este link:\n\n{{link}}\n\nO link só pode ser usado uma vez; se precisar de outro, peça à clínica.\n',
 '<p>Olá, {{patient}}.</p><p>Sua teleconsulta com <b>{{doctor}}</b> em <b>{{clinic}}</b> está marcada para <b>{{time}}</b>. Para entrar na sala de espera, abra este link:</p><p><a href="{{link}}">{{link}}</a></p><p>O link só pode ser usado uma vez; se precisar de outro, peça à clínica.</p>'),
('video_invitation', 'en', 'email', '{{clinic}}: your video consultation on {{time}}',
 E'Hello {{patient}},\n\nYour video consultation with {{doctor}} at {{clinic}} is on {{time}}. To enter the waiting room, open this link:\n\n{{link}}\n\nThe link works only once; if you need another, ask the clinic.\n',
 '<p>Hello {{patient}},</p><p>Your video consultation with <b>{{doctor}}</b> at <b>{{clinic}}</b> is on <b>{{time}}</b>. To enter the waiting room, open this link:</p><p><a href="{{link}}">{{link}}</a></p><p>The link works only once; if you need another, ask the clinic.</p>'),
('video_invitation', 'pt-BR', 'sms', NULL, '{{clinic}}: teleconsulta com {{doctor}} em {{time}}. Entre por aqui (uso único): {{link}}', NULL),
('video_invitation', 'en', 'sms', NULL, '{{clinic}}: video consultation with {{doctor}} on {{time}}. Join here (works once): {{link}}', NULL),
('video_doctor_ready', 'pt-BR', 'email', '{{clinic}}: {{doctor}} já está esperando você',
 E'Olá, {{patient}}.\n\n{{doctor}} já está na sala da sua teleconsulta de {{time}} em {{clinic}}. Para entrar agora, abra este link:\n\n{{link}}\n\nO link só pode ser usado uma vez.\n',
 '<p>Olá, {{patient}}.</p><p><b>{{doctor}}</b> já está na sala da sua teleconsulta de <b>{{time}}</b> em <b>{{clinic}}</b>. Para entrar agora, abra este link:</p><p><a href="{{link}}">{{link}}</a></p><p>O link só pode ser usado uma vez.</p>'),
('video_doctor_ready', 'en', 'email', '{{clinic}}: {{doctor}} is ready for you',
 E'Hello {{patient}},\n\n{{doctor}} is in the room for your video consultation of {{time}} at {{clinic}}. To join now, open this link:\n\n{{link}}\n\nThe link works only once.\n',
 '<p>Hello {{patient}},</p><p><b>{{doctor}}</b> is in the room for your video consultation of <b>{{time}}</b> at <b>{{clinic}}</b>. To join now, open this link:</p><p><a href="{{link}}">{{link}}</a></p><p>The link works only once.</p>'),
('video_doctor_ready', 'pt-BR', 'sms', NULL, '{{clinic}}: {{doctor}} já está esperando você na teleconsulta. Entre agora (uso único): {{link}}', NULL),
('video_doctor_ready', 'en', 'sms', NULL, '{{clinic}}: {{doctor}} is ready for your video consultation. Join now (works once): {{link}}', NULL);

-- Queues message p_kind of session s to its patient, with link p_link (of invitation p_invitation), on each
-- channel the patient chose and has a contact for, in the clinic's language and zone. Returns the channels
-- queued (empty when none).
CREATE FUNCTION video_notice_enqueue(s video_sessions, p_kind text, p_link text, p_invitation bigint) RETURNS text[]
LANGUAGE sql AS $$
  WITH q AS (
    INSERT INTO deliveries (channel, kind, recipient, payload, clinic_id, entity, entity_id)
    SELECT t.channel, p_kind, CASE t.channel WHEN 'email' THEN p.email ELSE p.phone END,
           message_payload(t, v.vars, p.full_name), s.clinic_id, 'video_invitation', p_invitation
    FROM patients p
    JOIN clinics c ON c.id = s.clinic_id
    JOIN appointments a ON a.id = s.appointment_id
    CROSS JOIN LATERAL (SELECT jsonb_build_object(
                          'patient', p.full_name, 'clinic', c.name, 'link', p_link,
                          'doctor', (SELECT u.full_name FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = s.doctor_id),
                          'time', clinic_time_text(lower(a.period), c.timezone, c.language)) AS vars) v
    JOIN message_templates t ON t.kind = p_kind AND t.language = c.language
    WHERE p.id = s.patient_id
      AND ((t.channel = 'email' AND p.notify_email AND p.email IS NOT NULL)
        OR (t.channel = 'sms' AND p.notify_sms AND p.phone IS NOT NULL))
    RETURNING channel)
  SELECT COALESCE(array_agg(channel ORDER BY channel), '{}') FROM q
$$;

-- Why nothing was queued to the patient of session s: 'no_contact' (no e-mail nor phone on the record) or
-- 'opted_out' (the contacts there are opted out); NULL when something can be queued.
CREATE FUNCTION video_notice_unreachable(s video_sessions) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN p.email IS NULL AND p.phone IS NULL THEN 'no_contact'
              WHEN NOT ((p.notify_email AND p.email IS NOT NULL) OR (p.notify_sms AND p.phone IS NOT NULL)) THEN 'opted_out'
         END
  FROM patients p WHERE p.id = s.patient_id
$$;

-- POST /sessions/{id}/invite: a new single-use invitation of session p_session (within clinic p_clinic and
-- doctor p_doctor scopes; NULL = any; CL002 when out of reach) with code p_code (stored by its hash), valid
-- p_ttl seconds and no longer than the session, its link p_url?code=... queued to the patient. Every call is
-- a new link, sent again; earlier links stay valid until used, revoked or expired. Returns the answer.
CREATE FUNCTION video_invitation_create(p_session bigint, p_clinic bigint, p_doctor bigint, p_code text,
                                        p_actor bigint, p_ttl integer, p_url text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  i video_invitations;
  link text := p_url || '?code=' || p_code;
  sent text[];
BEGIN
  SELECT * INTO s FROM video_sessions WHERE id = p_session AND (p_clinic IS NULL OR clinic_id = p_clinic)
    AND (p_doctor IS NULL OR doctor_id = p_doctor) FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM raise_not_found('video session');
  END IF;
  PERFORM assert_state(s.status IN ('scheduled', 'waiting', 'in_progress') AND s.expires_at > now(),
                       'The video consultation is over.');
  IF s.join_url IS DISTINCT FROM p_url THEN
    UPDATE video_sessions SET join_url = p_url WHERE id = s.id RETURNING * INTO s;
  END IF;
  INSERT INTO video_invitations (session_id, code_hash, created_by, expires_at)
  VALUES (s.id, encode(sha256(convert_to(p_code, 'UTF8')), 'hex'), p_actor,
          least(s.expires_at, now() + make_interval(secs => p_ttl)))
  RETURNING * INTO i;
  sent := video_notice_enqueue(s, 'video_invitation', link, i.id);
  RETURN jsonb_build_object('id', i.id, 'session_id', i.session_id, 'code', p_code, 'url', link,
                            'expires_at', rfc3339(i.expires_at), 'queued_channels', to_jsonb(sent),
                            'not_queued_reason', CASE WHEN sent = '{}' THEN video_notice_unreachable(s) END);
END
$$;

-- POST /sessions: video_session_create (sql/0018), the session keeping the API's join URL p_join_url.
CREATE FUNCTION video_session_open(p_appointment bigint, p_clinic bigint, p_doctor bigint, p_room_token text,
                                   p_expire_minutes integer, p_actor bigint, p_join_url text) RETURNS video_sessions
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions := video_session_create(p_appointment, p_clinic, p_doctor, p_room_token, p_expire_minutes, p_actor);
BEGIN
  UPDATE video_sessions SET join_url = p_join_url WHERE id = s.id RETURNING * INTO s;
  RETURN s;
END
$$;

-- A random invitation code as the API makes them: 43 base64url characters (two v4 UUIDs, 244 random bits
-- from the server's strong random source).
CREATE FUNCTION video_invitation_code() RETURNS text
LANGUAGE sql VOLATILE AS $$
  SELECT left(translate(encode(decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'),
                               'base64'), '+/=', '-_'), 43)
$$;

-- The doctor-ready rule (see the head of this file). Returns whether the notice was made now.
CREATE FUNCTION video_doctor_ready_notify(p_session bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  code text := video_invitation_code();
  iid bigint;
BEGIN
  SELECT * INTO s FROM video_sessions WHERE id = p_session FOR UPDATE;
  IF NOT FOUND OR s.status NOT IN ('scheduled', 'waiting') OR s.expires_at <= now() OR s.join_url IS NULL
     OR now() < (SELECT lower(a.period) FROM appointments a WHERE a.id = s.appointment_id)
     OR NOT EXISTS (SELECT 1 FROM video_participants vp WHERE vp.session_id = s.id AND vp.role = 'doctor'
                      AND vp.state = 'joined')
     OR EXISTS (SELECT 1 FROM video_participants vp WHERE vp.session_id = s.id AND vp.role = 'patient'
                  AND vp.state <> 'left') THEN
    RETURN false;
  END IF;
  INSERT INTO video_notices (session_id, kind) VALUES (s.id, 'doctor_ready') ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO video_invitations (session_id, code_hash, expires_at)
  VALUES (s.id, encode(sha256(convert_to(code, 'UTF8')), 'hex'), s.expires_at)
  RETURNING id INTO iid;
  UPDATE video_notices SET invitation_id = iid,
                           channels = video_notice_enqueue(s, 'video_doctor_ready', s.join_url || '?code=' || code, iid)
  WHERE session_id = s.id AND kind = 'doctor_ready';
  RETURN true;
END
$$;

-- video_doctor_ready_notify for its callers, whose own work must go on whatever happens to a notice (the
-- doctor's join, the sweep's expiries): a failure is a warning in the server's log, and the notice is tried
-- again at the next sweep.
CREATE FUNCTION video_doctor_ready_try(p_session bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  RETURN video_doctor_ready_notify(p_session);
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'video session %: the doctor-ready notice failed: %', p_session, SQLERRM;
  RETURN false;
END
$$;

-- The doctor's arrival in the room (INSERT, or back from left / reconnecting).
CREATE FUNCTION video_participants_doctor_ready_notice() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM video_doctor_ready_try(NEW.session_id);
  RETURN NULL;
END
$$;
CREATE TRIGGER video_participants_doctor_ready_notice AFTER INSERT OR UPDATE OF state ON video_participants
  FOR EACH ROW WHEN (NEW.role = 'doctor' AND NEW.state = 'joined') EXECUTE FUNCTION video_participants_doctor_ready_notice();

-- The sessions whose doctor waits in the room past the start with no notice yet, in id order (two
-- signaling instances sweeping at once lock them in the same order). Returns how many notices were made.
CREATE FUNCTION video_doctor_ready_sweep() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  sid bigint;
  n integer := 0;
BEGIN
  FOR sid IN SELECT s.id FROM video_sessions s
             JOIN video_participants d ON d.session_id = s.id AND d.role = 'doctor' AND d.state = 'joined'
             JOIN appointments a ON a.id = s.appointment_id
             WHERE s.status IN ('scheduled', 'waiting') AND lower(a.period) <= now() AND s.join_url IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM video_notices n WHERE n.session_id = s.id AND n.kind = 'doctor_ready')
             ORDER BY s.id LOOP
    IF video_doctor_ready_try(sid) THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END
$$;

-- A video link's message, once delivered, keeps its subject and loses its text (the function of sql/0022).
CREATE TRIGGER deliveries_forget_video_link BEFORE UPDATE OF status ON deliveries
  FOR EACH ROW WHEN (NEW.entity = 'video_invitation' AND NEW.status = 'delivered' AND OLD.status <> 'delivered')
  EXECUTE FUNCTION deliveries_forget_link();
