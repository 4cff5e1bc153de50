-- Platform schema: clinics, users, doctors, patients, refresh tokens and the append-only audit log,
-- with the JSON shapes the API returns. Invariants live here: keys, CHECKs, uniques, triggers.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- RFC 3339 UTC text for an instant, as every API response carries it.
CREATE FUNCTION rfc3339(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- True when tz is a time zone name PostgreSQL knows (IANA names, e.g. America/Sao_Paulo).
CREATE FUNCTION is_valid_timezone(tz text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = tz) AND tz ~ '^[A-Za-z]'
$$;

-- Brazilian CPF: 11 digits, not all equal, with both check digits right.
CREATE FUNCTION cpf_is_valid(cpf text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  s int;
  d int;
BEGIN
  IF cpf !~ '^[0-9]{11}$' OR cpf ~ '^(.)\1{10}$' THEN
    RETURN false;
  END IF;
  FOR k IN 9..10 LOOP
    s := 0;
    FOR i IN 1..k LOOP
      s := s + substr(cpf, i, 1)::int * (k + 2 - i);
    END LOOP;
    d := (s * 10) % 11;
    IF d = 10 THEN d := 0; END IF;
    IF d <> substr(cpf, k + 1, 1)::int THEN
      RETURN false;
    END IF;
  END LOOP;
  RETURN true;
END
$$;

CREATE FUNCTION touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TABLE clinics (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL CONSTRAINT clinics_name_check CHECK (char_length(name) BETWEEN 1 AND 200),
  timezone    text NOT NULL CONSTRAINT clinics_timezone_check CHECK (is_valid_timezone(timezone)),
  currency    text NOT NULL DEFAULT 'BRL' CONSTRAINT clinics_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX clinics_name_key ON clinics (lower(name));
CREATE TRIGGER clinics_touch BEFORE UPDATE ON clinics FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE users (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email          text NOT NULL CONSTRAINT users_email_check
                   CHECK (char_length(email) BETWEEN 3 AND 254 AND email = btrim(email) AND email LIKE '_%@_%'),
  password_hash  text NOT NULL CONSTRAINT users_password_hash_check CHECK (password_hash LIKE '$argon2id$%'),
  full_name      text NOT NULL CONSTRAINT users_full_name_check CHECK (char_length(full_name) BETWEEN 1 AND 200),
  role           text NOT NULL CONSTRAINT users_role_check
                   CHECK (role IN ('ADMIN', 'RECEPTIONIST', 'DOCTOR', 'PATIENT')),
  clinic_id      bigint REFERENCES clinics (id) ON DELETE RESTRICT,
  active         boolean NOT NULL DEFAULT true,
  failed_logins  integer NOT NULL DEFAULT 0 CONSTRAINT users_failed_logins_check CHECK (failed_logins >= 0),
  locked_until   timestamptz,
  last_login_at  timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  -- An admin belongs to the whole installation; everyone else to exactly one clinic.
  CONSTRAINT users_clinic_id_check CHECK ((role = 'ADMIN') = (clinic_id IS NULL)),
  CONSTRAINT users_id_clinic_key UNIQUE (id, clinic_id)
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_clinic_idx ON users (clinic_id, id);
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE doctors (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id         bigint NOT NULL CONSTRAINT doctors_user_id_key UNIQUE,
  clinic_id       bigint NOT NULL REFERENCES clinics (id) ON DELETE RESTRICT,
  specialty       text CONSTRAINT doctors_specialty_check CHECK (char_length(specialty) <= 100),
  license_number  text CONSTRAINT doctors_license_number_check CHECK (char_length(license_number) <= 50),
  pix_key_type    text CONSTRAINT doctors_pix_key_type_check
                    CHECK (pix_key_type IN ('cpf', 'cnpj', 'phone', 'email', 'evp')),
  pix_key         text CONSTRAINT doctors_pix_key_check CHECK (char_length(pix_key) BETWEEN 1 AND 77),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  -- The doctor record and its user always sit in the same clinic.
  CONSTRAINT doctors_user_clinic_fkey FOREIGN KEY (user_id, clinic_id)
    REFERENCES users (id, clinic_id) ON UPDATE CASCADE ON DELETE RESTRICT,
  CONSTRAINT doctors_pix_pair_check CHECK ((pix_key_type IS NULL) = (pix_key IS NULL))
);
CREATE INDEX doctors_clinic_idx ON doctors (clinic_id, id);
CREATE TRIGGER doctors_touch BEFORE UPDATE ON doctors FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE patients (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  clinic_id        bigint NOT NULL REFERENCES clinics (id) ON DELETE RESTRICT,
  full_name        text NOT NULL CONSTRAINT patients_full_name_check CHECK (char_length(full_name) BETWEEN 1 AND 200),
  phone            text CONSTRAINT patients_phone_check CHECK (phone ~ '^\+?[0-9 ()-]{8,20}$'),
  email            text CONSTRAINT patients_email_check CHECK (char_length(email) <= 254 AND email LIKE '_%@_%'),
  birth_date       date CONSTRAINT patients_birth_date_check CHECK (birth_date >= DATE '1900-01-01'),
  sex              text CONSTRAINT patients_sex_check CHECK (sex IN ('F', 'M', 'O')),
  cpf              text CONSTRAINT patients_cpf_check CHECK (cpf_is_valid(cpf)),
  medical_history  text CONSTRAINT patients_medical_history_check CHECK (char_length(medical_history) <= 20000),
  user_id          bigint CONSTRAINT patients_user_id_key UNIQUE,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  -- What the desk's search box matches: name and e-mail lower-cased, phone digits, CPF, separated by
  -- a character nobody types, under one trigram index.
  search_doc       text GENERATED ALWAYS AS (
                     lower(full_name) || chr(31) || COALESCE(lower(email), '') || chr(31) ||
                     COALESCE(regexp_replace(phone, '[^0-9]', '', 'g'), '') || chr(31) || COALESCE(cpf, '')) STORED,
  CONSTRAINT patients_cpf_key UNIQUE (clinic_id, cpf),
  CONSTRAINT patients_user_clinic_fkey FOREIGN KEY (user_id, clinic_id)
    REFERENCES users (id, clinic_id) ON UPDATE CASCADE ON DELETE RESTRICT
);
CREATE INDEX patients_name_order_idx ON patients (clinic_id, lower(full_name), id);
CREATE INDEX patients_search_trgm_idx ON patients USING gin (search_doc gin_trgm_ops);
CREATE TRIGGER patients_touch BEFORE UPDATE ON patients FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE refresh_tokens (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  family      uuid NOT NULL,
  token_hash  text NOT NULL CONSTRAINT refresh_tokens_token_hash_key UNIQUE
                CONSTRAINT refresh_tokens_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id) WHERE revoked_at IS NULL;

-- A deactivated user's refresh tokens stop working in the same transaction.
CREATE FUNCTION users_revoke_on_deactivate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.active AND NOT NEW.active THEN
    UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = NEW.id AND revoked_at IS NULL;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER users_revoke_tokens AFTER UPDATE OF active ON users
  FOR EACH ROW EXECUTE FUNCTION users_revoke_on_deactivate();

CREATE TABLE audit_log (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at             timestamptz NOT NULL DEFAULT now(),
  actor_user_id  bigint REFERENCES users (id) ON DELETE RESTRICT,
  actor_role     text,
  action         text NOT NULL CONSTRAINT audit_log_action_check CHECK (action ~ '^[a-z_]{1,64}$'),
  entity         text NOT NULL CONSTRAINT audit_log_entity_check CHECK (entity ~ '^[a-z_]{1,64}$'),
  entity_id      bigint,
  details        jsonb NOT NULL DEFAULT '{}'::jsonb,
  request_id     text
);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
CREATE INDEX audit_log_entity_idx ON audit_log (entity, entity_id, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_user_id, id);

-- The audit log is append-only: the database itself refuses changes and removals.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- Failed sign-ins for e-mails that belong to no account, counted like an account's own counter
-- so that locking (and its 429) looks the same whether or not the e-mail exists.
CREATE TABLE login_failures (
  email         text PRIMARY KEY CONSTRAINT login_failures_email_check
                  CHECK (email = lower(email) AND char_length(email) <= 254),
  failures      integer NOT NULL DEFAULT 0 CONSTRAINT login_failures_failures_check CHECK (failures >= 0),
  locked_until  timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Records one failed sign-in for p_email (an account or not). After p_max failures in a row the
-- e-mail is locked for p_lock_seconds and the counter starts again. Returns the seconds the e-mail
-- stays locked now (0 = not locked).
CREATE FUNCTION login_record_failure(p_email text, p_max integer, p_lock_seconds integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  until timestamptz;
BEGIN
  UPDATE users SET
    locked_until = CASE WHEN failed_logins + 1 >= p_max THEN now() + make_interval(secs => p_lock_seconds)
                        ELSE locked_until END,
    failed_logins = CASE WHEN failed_logins + 1 >= p_max THEN 0 ELSE failed_logins + 1 END
  WHERE lower(email) = lower(p_email)
  RETURNING locked_until INTO until;
  IF NOT FOUND THEN
    INSERT INTO login_failures AS f (email, failures) VALUES (lower(p_email), 0)
    ON CONFLICT (email) DO NOTHING;
    UPDATE login_failures f SET
      locked_until = CASE WHEN f.failures + 1 >= p_max THEN now() + make_interval(secs => p_lock_seconds)
                          ELSE f.locked_until END,
      failures = CASE WHEN f.failures + 1 >= p_max THEN 0 ELSE f.failures + 1 END,
      updated_at = now()
    WHERE f.email = lower(p_email)
    RETURNING f.locked_until INTO until;
  END IF;
  RETURN CASE WHEN until > now() THEN ceil(extract(epoch FROM until - now()))::integer ELSE 0 END;
END
$$;

-- Seconds p_email stays locked (0 = not locked), whether or not an account has it.
CREATE FUNCTION login_lock_seconds(p_email text) RETURNS integer
LANGUAGE sql STABLE AS $$
  SELECT COALESCE(ceil(extract(epoch FROM max(t) - now()))::integer, 0)
  FROM (SELECT locked_until AS t FROM users WHERE lower(email) = lower(p_email) AND locked_until > now()
        UNION ALL
        SELECT locked_until FROM login_failures WHERE email = lower(p_email) AND locked_until > now()) s
$$;

-- Raises the CHECK violation of table.column when d is after today in the time zone tz, so the
-- caller sees it as that field's validation error.
CREATE FUNCTION not_after_local_today(d date, tz text, tbl text, col text) RETURNS date
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF d > (now() AT TIME ZONE tz)::date THEN
    RAISE EXCEPTION '% is after today in %', d, tz
      USING ERRCODE = 'check_violation', TABLE = tbl, COLUMN = col, CONSTRAINT = tbl || '_' || col || '_check';
  END IF;
  RETURN d;
END
$$;

-- JSON shapes of the API (one place for each representation).
CREATE FUNCTION clinic_json(c clinics) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', c.id, 'name', c.name, 'timezone', c.timezone, 'currency', c.currency,
                            'created_at', rfc3339(c.created_at))
$$;

CREATE FUNCTION user_json(u users) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', u.id, 'email', u.email, 'full_name', u.full_name, 'role', u.role, 'clinic_id', u.clinic_id,
    'active', u.active,
    'doctor_id', (SELECT d.id FROM doctors d WHERE d.user_id = u.id),
    'patient_id', (SELECT p.id FROM patients p WHERE p.user_id = u.id),
    'created_at', rfc3339(u.created_at), 'last_login_at', rfc3339(u.last_login_at))
$$;

-- A PIX key is shown with only its last four characters.
CREATE FUNCTION mask_secret(s text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN s IS NULL THEN NULL
              WHEN char_length(s) <= 4 THEN repeat('*', char_length(s))
              ELSE repeat('*', char_length(s) - 4) || right(s, 4) END
$$;

CREATE FUNCTION doctor_json(d doctors) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', d.id, 'user_id', d.user_id, 'clinic_id', d.clinic_id, 'full_name', u.full_name, 'email', u.email,
    'specialty', d.specialty, 'license_number', d.license_number, 'pix_key_type', d.pix_key_type,
    'pix_key', mask_secret(d.pix_key), 'active', u.active, 'created_at', rfc3339(d.created_at))
  FROM users u WHERE u.id = d.user_id
$$;

CREATE FUNCTION patient_json(p patients) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', p.id, 'clinic_id', p.clinic_id, 'full_name', p.full_name, 'phone', p.phone, 'email', p.email,
    'birth_date', to_char(p.birth_date, 'YYYY-MM-DD'), 'sex', p.sex, 'cpf', p.cpf,
    'medical_history', p.medical_history, 'user_id', p.user_id,
    'created_at', rfc3339(p.created_at), 'updated_at', rfc3339(p.updated_at))
$$;

CREATE FUNCTION audit_json(a audit_log) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', a.id, 'at', rfc3339(a.at), 'actor_user_id', a.actor_user_id, 'actor_role', a.actor_role,
    'action', a.action, 'entity', a.entity, 'entity_id', a.entity_id, 'details', a.details)
$$;

-- The opaque list cursor: base64url (no padding) of a small JSON array of the last row's keys.
CREATE FUNCTION cursor_encode(keys jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT rtrim(translate(encode(convert_to(keys::text, 'UTF8'), 'base64'), E'+/\n', '-_'), '=')
$$;

-- Escapes LIKE wildcards so user text matches literally.
CREATE FUNCTION like_escape(s text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT replace(replace(replace(s, '\', '\\'), '%', '\%'), '_', '\_')
$$;
