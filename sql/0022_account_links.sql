-- Account links (DESIGN §10 "Account links", docs/ARCHITECTURE.md §14): the single-use links that
-- set a password, for a patient's account created by the desk (activation) and for any account
-- whose owner asks for one (reset). Staff never choose or see a patient's password.
--
-- A link's token is random (256 bits, made by the api-server); only its SHA-256 is stored here. The
-- token itself exists only in the message queued to the account's own e-mail (or the patient's
-- phone), and is removed from that delivery's payload once it is delivered. A link is live until
-- it is used, expires (ACCOUNT_LINK_TTL_SECONDS, 48 h by default) or a newer link for the same
-- account replaces it. Using one sets the password (which ends every session of the account, by the
-- users triggers of 0012) and spends every live link of the account.
--
-- One function per operation, each the only writer of what it owns:
--   patient_account_create   the desk's POST /patients/{id}/account (creates or re-sends)
--   account_password_reset   the public POST /auth/password-reset (throttled per address and account)
--   account_activate         the public POST /auth/activate
-- and account_link_issue, which both of the first two call.
--
-- An account created by the desk has no usable password until it is activated: its password_hash
-- is the marker '$argon2id$unset' (keeping users_password_hash_check), which no password matches.

CREATE TABLE account_links (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose     text NOT NULL CONSTRAINT account_links_purpose_check CHECK (purpose IN ('activation', 'reset')),
  token_hash  text NOT NULL CONSTRAINT account_links_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  -- replaced by a newer link of the account, or spent when another of its links was used
  revoked_at  timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT account_links_token_hash_key UNIQUE (token_hash),
  CONSTRAINT account_links_spent_check CHECK (used_at IS NULL OR revoked_at IS NULL)
);
CREATE INDEX account_links_user_idx ON account_links (user_id, created_at);

-- Public reset requests by client address (an IPv4 address or an IPv6 /64, as login_throttle.c
-- writes it), for the per-address limit; rows older than the window are pruned as requests come.
CREATE TABLE password_reset_requests (
  address       text NOT NULL CONSTRAINT password_reset_requests_address_check
                  CHECK (char_length(address) BETWEEN 1 AND 64),
  requested_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_reset_requests_address_idx ON password_reset_requests (address, requested_at);
CREATE INDEX password_reset_requests_at_idx ON password_reset_requests (requested_at);

-- The payload of a delivery rendered from template t with vars, to to_name (e-mail) — the one
-- shape senders read (0021).
CREATE FUNCTION message_payload(t message_templates, vars jsonb, to_name text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE t.channel
           WHEN 'email' THEN jsonb_build_object('to_name', to_name, 'subject', message_render(t.subject, vars, false),
                                                'text', message_render(t.body_text, vars, false),
                                                'html', message_render(t.body_html, vars, true))
           ELSE jsonb_build_object('body', message_render(t.body_text, vars, false)) END
$$;

INSERT INTO message_templates (kind, language, channel, subject, body_text, body_html) VALUES
('account_activation', 'pt-BR', 'email', '{{clinic}}: ative sua conta',
 E'Olá, {{name}}.\n\n{{clinic}} criou sua conta no portal do paciente. Para escolher sua senha, abra este link:\n\n{{link}}\n\nO link vale por {{hours}} horas e só pode ser usado uma vez. Se você não esperava esta mensagem, ignore-a.\n',
 '<p>Olá, {{name}}.</p><p><b>{{clinic}}</b> criou sua conta no portal do paciente. Para escolher sua senha, abra este link:</p><p><a href="{{link}}">{{link}}</a></p><p>O link vale por {{hours}} horas e só pode ser usado uma vez. Se você não esperava esta mensagem, ignore-a.</p>'),
('account_activation', 'en', 'email', '{{clinic}}: activate your account',
 E'Hello {{name}},\n\n{{clinic}} created your patient portal account. To choose your password, open this link:\n\n{{link}}\n\nThe link works for {{hours}} hours and only once. If you did not expect this message, ignore it.\n',
 '<p>Hello {{name}},</p><p><b>{{clinic}}</b> created your patient portal account. To choose your password, open this link:</p><p><a href="{{link}}">{{link}}</a></p><p>The link works for {{hours}} hours and only once. If you did not expect this message, ignore it.</p>'),
('account_reset', 'pt-BR', 'email', 'Redefinição de senha',
 E'Olá, {{name}}.\n\nRecebemos um pedido para redefinir a senha da sua conta. Para escolher uma nova senha, abra este link:\n\n{{link}}\n\nO link vale por {{hours}} horas e só pode ser usado uma vez. Se não foi você, ignore esta mensagem: sua senha continua a mesma.\n',
 '<p>Olá, {{name}}.</p><p>Recebemos um pedido para redefinir a senha da sua conta. Para escolher uma nova senha, abra este link:</p><p><a href="{{link}}">{{link}}</a></p><p>O link vale por {{hours}} horas e só pode ser usado uma vez. Se não foi você, ignore esta mensagem: sua senha continua a mesma.</p>'),
('account_reset', 'en', 'email', 'Password reset',
 E'Hello {{name}},\n\nWe received a request to reset your account''s password. To choose a new password, open this link:\n\n{{link}}\n\nThe link works for {{hours}} hours and only once. If it was not you, ignore this message: your password stays the same.\n',
 '<p>Hello {{name}},</p><p>We received a request to reset your account''s password. To choose a new password, open this link:</p><p><a href="{{link}}">{{link}}</a></p><p>The link works for {{hours}} hours and only once. If it was not you, ignore this message: your password stays the same.</p>'),
('account_activation', 'pt-BR', 'sms', NULL, '{{clinic}}: ative sua conta (vale {{hours}} h, uso único): {{link}}', NULL),
('account_activation', 'en', 'sms', NULL, '{{clinic}}: activate your account (valid {{hours}} h, once): {{link}}', NULL);

-- Issues a new link of p_purpose for user p_user (whose row the caller has locked): every live link
-- of the account is revoked, the new one stored by its hash, valid p_valid_seconds, and the
-- message queued to the account's e-mail (and by SMS to p_sms_to when given), rendered in the
-- clinic's language (pt-BR for an admin). Audited as account_link_issued by p_actor (NULL: the
-- public reset), without the token. Returns the link's id.
CREATE FUNCTION account_link_issue(p_user bigint, p_purpose text, p_token text, p_url text, p_valid_seconds integer,
                                   p_sms_to text, p_actor bigint, p_actor_role text, p_request_id text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  u users;
  c clinics;
  lid bigint;
  vars jsonb;
  sent text[];
BEGIN
  SELECT * INTO STRICT u FROM users WHERE id = p_user;
  SELECT * INTO c FROM clinics WHERE id = u.clinic_id;
  UPDATE account_links SET revoked_at = now() WHERE user_id = p_user AND used_at IS NULL AND revoked_at IS NULL;
  INSERT INTO account_links (user_id, purpose, token_hash, expires_at)
  VALUES (p_user, p_purpose, encode(sha256(convert_to(p_token, 'UTF8')), 'hex'),
          now() + make_interval(secs => p_valid_seconds))
  RETURNING id INTO lid;
  vars := jsonb_build_object('name', u.full_name, 'clinic', COALESCE(c.name, ''),
                             'link', p_url || '?token=' || p_token, 'hours', ceil(p_valid_seconds / 3600.0)::integer);
  WITH q AS (
    INSERT INTO deliveries (channel, kind, recipient, payload, clinic_id, entity, entity_id)
    SELECT t.channel, t.kind, CASE t.channel WHEN 'email' THEN u.email ELSE p_sms_to END,
           message_payload(t, vars, u.full_name), u.clinic_id, 'account_link', lid
    FROM message_templates t
    WHERE t.kind = 'account_' || p_purpose AND t.language = COALESCE(c.language, 'pt-BR')
      AND (t.channel = 'email' OR p_sms_to IS NOT NULL)
    RETURNING channel)
  SELECT array_agg(channel ORDER BY channel) INTO sent FROM q;
  INSERT INTO audit_log (actor_user_id, actor_role, action, entity, entity_id, details, request_id)
  VALUES (p_actor, p_actor_role, 'account_link_issued', 'user', p_user,
          jsonb_build_object('purpose', p_purpose, 'link_id', lid, 'channels', to_jsonb(COALESCE(sent, '{}')),
                             'expires_at', (SELECT rfc3339(l.expires_at) FROM account_links l WHERE l.id = lid)),
          p_request_id);
  RETURN lid;
END
$$;

-- Once a link's message is delivered its token is of no further use in the queue: the payload
-- keeps the subject and loses the text. (A failed delivery keeps it, for the admin's retry.)
CREATE FUNCTION deliveries_forget_link() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.payload := jsonb_build_object('subject', NEW.payload->'subject', 'removed', 'the link, after delivery');
  RETURN NEW;
END
$$;
CREATE TRIGGER deliveries_forget_link BEFORE UPDATE OF status ON deliveries
  FOR EACH ROW WHEN (NEW.entity = 'account_link' AND NEW.status = 'delivered' AND OLD.status <> 'delivered')
  EXECUTE FUNCTION deliveries_forget_link();

-- The desk's POST /patients/{id}/account: patient p_patient (in clinic p_clinic; NULL = any, for
-- admins) gets a PATIENT account under the e-mail on their record, with no usable password, and
-- an activation link (token p_token) by e-mail, and by SMS to the record's phone when p_phone is
-- given. p_email and p_phone, when given, must be the record's: the link goes to the patient's own
-- contacts, never to one the desk types in. A patient whose account was never activated gets a
-- new link (the old one stops working): http_status 200. One with a password: 409. No row: no
-- such patient (404).
CREATE FUNCTION patient_account_create(p_patient bigint, p_clinic bigint, p_email text, p_phone text, p_token text,
                                       p_url text, p_valid_seconds integer, p_actor bigint, p_actor_role text,
                                       p_request_id text)
RETURNS TABLE (body jsonb, user_id bigint, http_status integer)
LANGUAGE plpgsql AS $$
DECLARE
  p patients;
  u users;
BEGIN
  SELECT * INTO p FROM patients pt WHERE pt.id = p_patient AND (p_clinic IS NULL OR pt.clinic_id = p_clinic) FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM assert_field(p.email IS NOT NULL, 'patients', 'email',
                       'the patient has no e-mail on record: add it to the patient first');
  PERFORM assert_field(p_email IS NULL OR lower(p_email) = lower(p.email), 'patients', 'email',
                       'must be the e-mail on the patient''s record');
  PERFORM assert_field(p_phone IS NULL OR regexp_replace(p_phone, '\D', '', 'g') = regexp_replace(COALESCE(p.phone, ''), '\D', '', 'g'),
                       'patients', 'phone', 'must be the phone on the patient''s record');
  IF p.user_id IS NULL THEN
    INSERT INTO users (email, password_hash, full_name, role, clinic_id)
    VALUES (p.email, '$argon2id$unset', p.full_name, 'PATIENT', p.clinic_id) RETURNING * INTO u;
    UPDATE patients pt SET user_id = u.id WHERE pt.id = p.id;
    http_status := 201;
  ELSE
    SELECT * INTO u FROM users x WHERE x.id = p.user_id FOR UPDATE;
    IF u.password_hash <> '$argon2id$unset' THEN
      RAISE EXCEPTION 'patient account exists' USING ERRCODE = '55000',
        HINT = 'This patient already has an account; they can ask for a password reset.';
    END IF;
    http_status := 200;
  END IF;
  PERFORM account_link_issue(u.id, 'activation', p_token, p_url, p_valid_seconds,
                             CASE WHEN p_phone IS NOT NULL THEN p.phone END, p_actor, p_actor_role, p_request_id);
  body := user_json(u) || jsonb_build_object('patient_id', p.id);
  user_id := u.id;
  RETURN NEXT;
END
$$;

-- The public POST /auth/password-reset from p_address: 0 when accepted (whether or not an active
-- account has the e-mail), else the seconds until the address may ask again (it asked
-- p_per_address times within p_window_seconds). An account that got p_per_account reset links
-- within the window gets no more (audited as password_reset_throttled); the caller's answer is the
-- same. Requests of one address are counted one at a time (an advisory lock), so none slips past.
CREATE FUNCTION account_password_reset(p_email text, p_address text, p_token text, p_url text, p_valid_seconds integer,
                                       p_per_address integer, p_per_account integer, p_window_seconds integer,
                                       p_request_id text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  win interval := make_interval(secs => p_window_seconds);
  n integer;
  oldest timestamptz;
  u users;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('password_reset ' || p_address, 0));
  SELECT count(*), min(r.requested_at) INTO n, oldest FROM password_reset_requests r
  WHERE r.address = p_address AND r.requested_at > now() - win;
  IF n >= p_per_address THEN
    RETURN greatest(1, ceil(extract(epoch FROM oldest + win - now())))::integer;
  END IF;
  DELETE FROM password_reset_requests WHERE ctid = ANY (ARRAY(
    SELECT r.ctid FROM password_reset_requests r WHERE r.requested_at <= now() - win
    ORDER BY r.requested_at LIMIT 100 FOR UPDATE SKIP LOCKED));
  INSERT INTO password_reset_requests (address) VALUES (p_address);
  SELECT * INTO u FROM users x WHERE lower(x.email) = lower(p_email) AND x.active FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  IF (SELECT count(*) FROM account_links l
      WHERE l.user_id = u.id AND l.purpose = 'reset' AND l.created_at > now() - win) >= p_per_account THEN
    INSERT INTO audit_log (actor_role, action, entity, entity_id, details, request_id)
    VALUES (NULL, 'password_reset_throttled', 'user', u.id, jsonb_build_object('address', p_address), p_request_id);
    RETURN 0;
  END IF;
  PERFORM account_link_issue(u.id, 'reset', p_token, p_url, p_valid_seconds, NULL, NULL, NULL, p_request_id);
  RETURN 0;
END
$$;

-- The public POST /auth/activate: the live link whose token hashes to p_token_hash sets the
-- account's password to p_password_hash (every session of the account ends: 0012's triggers) and
-- is spent with every other live link of the account; audited as account_link_used. Returns the
-- account's id, or NULL when no live link has that hash (unknown, used, replaced, expired, or its
-- account deactivated): the caller cannot tell which. Locks the user row before the link, as
-- account_link_issue's callers do.
CREATE FUNCTION account_activate(p_token_hash text, p_password_hash text, p_request_id text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  u users;
  l account_links;
BEGIN
  SELECT * INTO u FROM users x
  WHERE x.id = (SELECT a.user_id FROM account_links a WHERE a.token_hash = p_token_hash) AND x.active FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  SELECT * INTO l FROM account_links a
  WHERE a.token_hash = p_token_hash AND a.used_at IS NULL AND a.revoked_at IS NULL AND a.expires_at > now() FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  UPDATE users x SET password_hash = p_password_hash WHERE x.id = u.id;
  UPDATE account_links a SET used_at = now() WHERE a.id = l.id;
  UPDATE account_links a SET revoked_at = now()
  WHERE a.user_id = u.id AND a.id <> l.id AND a.used_at IS NULL AND a.revoked_at IS NULL;
  INSERT INTO audit_log (actor_user_id, actor_role, action, entity, entity_id, details, request_id)
  VALUES (u.id, u.role, 'account_link_used', 'user', u.id, jsonb_build_object('purpose', l.purpose, 'link_id', l.id),
          p_request_id);
  RETURN u.id;
END
$$;

-- The appointment messages (0021) render through message_payload too.
CREATE OR REPLACE FUNCTION delivery_enqueue_appointment(a appointments, p_kind text) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO deliveries (channel, kind, recipient, payload, clinic_id, entity, entity_id)
  SELECT t.channel, p_kind, CASE t.channel WHEN 'email' THEN p.email ELSE p.phone END,
         message_payload(t, v.vars, p.full_name), a.clinic_id, 'appointment', a.id
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
