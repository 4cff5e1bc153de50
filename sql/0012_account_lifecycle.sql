-- Account lifecycle: sign-in throttling that cannot lock an owner out, the end of every session of
-- an account at once, and the PIX key change announced to its doctor and to their open closings.
--
-- 1. Sign-in throttling (api-server/login_throttle.c). The hard lock of 0001 (five failures lock an
--    e-mail for everyone) let anybody keep a doctor out. Failures are now counted in three kinds of
--    counter, one row each in login_failures: per account and client address (the owner's own
--    address is unaffected by guesses from elsewhere), per account over every address (a distributed
--    guess, far looser, and not applied at addresses the account signed in from lately) and per
--    address over every account (spraying one password over many accounts). Every counter forgets
--    one failure per decay period. Once a counter reaches its free failures, each failure delays the
--    next attempt it covers by base * 2^k seconds (k = failures - free), capped; an attempt inside a
--    delay is answered 429 without its password being checked, counted or audited. The attempt is
--    counted before the password is checked (parallel guesses get no more tries than sequential
--    ones) and given back when the password was right. Unknown e-mails are counted alike, so a 429
--    tells nothing about an account. Rows whose failures are forgotten and whose delay is over are
--    deleted by login_failures_prune, which the sign-in path calls.
--    users.failed_logins and users.locked_until (0001) are no longer read; create-admin still
--    resets them.
--
-- 2. The end of every session of an account. users.tokens_valid_after, in whole seconds: access
--    tokens whose iat is earlier are refused by the API's guard (token_valid_for), and tokens are
--    issued with iat = token_issued_at(u), never earlier than it. It moves forward on a new password
--    (a change, an admin's reset, create-admin), on deactivation and on an explicit request
--    (POST /api/auth/logout-all sets it; the trigger replaces the value with the right one); every
--    refresh token of the user is revoked in the same transaction.
--    Whole seconds, because iat is: the new value is the clock rounded up to a whole second, and at
--    least one second past the old value. A token issued before the change, even in the same
--    second, has iat below it; a token issued after has iat at or above it (its iat may run up to a
--    second ahead of the clock, which every verifier's skew allowance covers). The instants are all
--    taken on the database's clock, after the user row is locked, so a sign-in or a refresh racing
--    the change is ordered by that lock, and the api-server's own clock plays no part.
--
-- 3. A doctor's PIX key change (api-server/h_doctors.c, which first checks the caller's current
--    password): doctor_pix_announce tells the doctor (event doctor_pix_changed in doctor:{id}) and
--    writes a pix_key_changed step to the trail of each of their closings not yet paid (draft,
--    closed, disputed), announced as closing_updated like every step. closing_trail.action has no
--    CHECK, so the new step needs no change to the table.
--
-- Triggers added on users (besides 0001's users_touch and users_revoke_tokens):
--   users_sessions_guard   BEFORE UPDATE: moves tokens_valid_after (see 2).
--   users_sessions_ended   AFTER UPDATE: when tokens_valid_after moved, revokes the refresh tokens;
--                          when the password changed, clears the e-mail's sign-in counters; when
--                          tokens_valid_after or active changed, notifies (below).
--
-- NOTIFY account_changed, payload '{"user_id":N}' (N the users.id; nothing else): sent by
-- users_sessions_ended in the transaction of the change, so listeners hear it only once it commits,
-- when a user's sessions end (tokens_valid_after moved: a new password, logout-all, deactivation)
-- or their active flag changes. It is for the signaling-server, to drop that user's sockets; a
-- listener reads whatever else it needs (active, tokens_valid_after) from the users row.

-- 1. Sign-in throttling ---------------------------------------------------------------------------

DROP FUNCTION login_record_failure(text, integer, integer);
DROP FUNCTION login_lock_seconds(text);
DROP TABLE login_failures;

COMMENT ON COLUMN users.failed_logins IS 'Unused since 0012 (login_failures counts failures).';
COMMENT ON COLUMN users.locked_until IS 'Unused since 0012 (login_failures holds the delays).';

-- One counter of failed password checks. email '' = every e-mail (the address's counter); address
-- '' = every address (the account's counter); both set = that account from that address. An
-- address is an IPv4 address or an IPv6 /64 (api-server/login_throttle.c).
CREATE TABLE login_failures (
  email          text NOT NULL CONSTRAINT login_failures_email_check
                   CHECK (email = lower(email) AND char_length(email) <= 254),
  address        text NOT NULL CONSTRAINT login_failures_address_check CHECK (char_length(address) <= 64),
  failures       integer NOT NULL DEFAULT 0 CONSTRAINT login_failures_failures_check CHECK (failures >= 0),
  -- failures forget one each decay period from here (kept on its period grid as they leak)
  counted_from   timestamptz NOT NULL DEFAULT now(),
  blocked_until  timestamptz,
  -- when the row holds nothing any more: its failures forgotten and its delay over
  expires_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (email, address),
  CONSTRAINT login_failures_key_check CHECK (email <> '' OR address <> '')
);
CREATE INDEX login_failures_expires_idx ON login_failures (expires_at);

-- The addresses each account signed in from lately: the account's own counter does not apply there.
CREATE TABLE login_known_addresses (
  user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  address  text NOT NULL CONSTRAINT login_known_addresses_address_check CHECK (char_length(address) BETWEEN 1 AND 64),
  last_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, address)
);
CREATE INDEX login_known_addresses_last_idx ON login_known_addresses (last_at);

-- The settings of the throttle, as the api-server passes them (LOGIN_* variables, README).
CREATE TYPE login_limits AS (
  free_pair     integer, -- failures of one account from one address before delays
  free_account  integer, -- of one account from every address
  free_address  integer, -- from one address over every account
  delay_base    integer, -- first delay, seconds; doubles with each further failure
  delay_max     integer, -- longest delay, seconds
  decay         integer, -- seconds after which a counter forgets one failure
  known_ttl     integer  -- seconds an address the account signed in from stays its own
);

-- Whether p_address is one the account of p_email signed in from within the limits' known_ttl.
CREATE FUNCTION login_address_known(p_email text, p_address text, l login_limits) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM login_known_addresses k JOIN users u ON u.id = k.user_id
                 WHERE lower(u.email) = lower(p_email) AND k.address = p_address
                   AND k.last_at > now() - make_interval(secs => l.known_ttl))
$$;

-- The rows of a two-column text array, as one-dimensional arrays (unnest would flatten them).
CREATE FUNCTION unnest_pairs(a text[][]) RETURNS SETOF text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT ARRAY[a[i][1], a[i][2]] FROM generate_subscripts(a, 1) i
$$;

-- Counts an attempt at the password of p_email from p_address, before it is checked.
-- retry_after > 0: refused (a delay covers it), nothing counted. Otherwise counted, and started
-- names the counters ('account_address', 'account', 'address') this attempt brought to their free
-- failures: if the password turns out wrong, each begins a delay of delay_base seconds there.
-- Counters are locked in key order, so concurrent attempts are counted exactly and never deadlock.
CREATE FUNCTION login_attempt(p_email text, p_address text, l login_limits, OUT retry_after integer, OUT started text[])
LANGUAGE plpgsql AS $$
DECLARE
  e text := lower(p_email);
  known boolean := login_address_known(p_email, p_address, l);
  keys text[][];
  r login_failures;
  free integer;
  steps integer;
  was integer;
BEGIN
  retry_after := 0;
  started := '{}';
  -- the counters this attempt falls under: the account's own is skipped at its known addresses
  keys := CASE WHEN known THEN ARRAY[['', p_address], [e, p_address]]
               ELSE ARRAY[['', p_address], [e, ''], [e, p_address]] END;
  -- refused without writing anything while a delay runs (the common case under attack)
  SELECT COALESCE(ceil(extract(epoch FROM max(f.blocked_until) - now())), 0) INTO retry_after
  FROM login_failures f
  WHERE (f.email, f.address) IN (SELECT k[1], k[2] FROM unnest_pairs(keys) k) AND f.blocked_until > now();
  IF retry_after > 0 THEN
    RETURN;
  END IF;
  INSERT INTO login_failures (email, address)
  SELECT k[1], k[2] FROM unnest_pairs(keys) k ORDER BY 1, 2
  ON CONFLICT DO NOTHING;
  -- under the locks: a delay begun meanwhile by a parallel attempt refuses this one
  FOR r IN SELECT * FROM login_failures f WHERE (f.email, f.address) IN (SELECT k[1], k[2] FROM unnest_pairs(keys) k)
           ORDER BY f.email, f.address FOR UPDATE LOOP
    IF r.blocked_until > now() THEN
      retry_after := greatest(retry_after, ceil(extract(epoch FROM r.blocked_until - now()))::integer);
    END IF;
  END LOOP;
  IF retry_after > 0 THEN
    RETURN;
  END IF;
  FOR r IN SELECT * FROM login_failures f WHERE (f.email, f.address) IN (SELECT k[1], k[2] FROM unnest_pairs(keys) k)
           ORDER BY f.email, f.address LOOP
    free := CASE WHEN r.email = '' THEN l.free_address WHEN r.address = '' THEN l.free_account ELSE l.free_pair END;
    steps := floor(extract(epoch FROM now() - r.counted_from) / l.decay);
    was := greatest(r.failures - steps, 0);
    r.counted_from := CASE WHEN was = 0 THEN now() ELSE r.counted_from + make_interval(secs => steps * l.decay) END;
    r.failures := was + 1;
    r.blocked_until := CASE WHEN r.failures >= free
                            THEN now() + make_interval(secs => least(l.delay_max::numeric,
                                                                     l.delay_base * 2::numeric ^ least(r.failures - free, 40)))
                       END;
    r.expires_at := greatest(r.counted_from + make_interval(secs => r.failures * l.decay), r.blocked_until);
    UPDATE login_failures f SET failures = r.failures, counted_from = r.counted_from, blocked_until = r.blocked_until,
                                expires_at = r.expires_at
    WHERE f.email = r.email AND f.address = r.address;
    IF was < free AND r.failures >= free THEN
      started := started || CASE WHEN r.email = '' THEN 'address' WHEN r.address = '' THEN 'account' ELSE 'account_address' END;
    END IF;
  END LOOP;
END
$$;

-- The password of an attempt counted by login_attempt was right: the account's counter at that
-- address is cleared, the attempt is given back to the account's and the address's counters (whose
-- delay ends when they fall below their free failures; a counter left empty goes), and the address
-- becomes one the account (p_user; NULL for none) signed in from.
CREATE FUNCTION login_attempt_passed(p_email text, p_address text, l login_limits, p_user bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  e text := lower(p_email);
  known boolean := login_address_known(p_email, p_address, l);
  r login_failures;
BEGIN
  FOR r IN SELECT * FROM login_failures f
           WHERE (f.email, f.address) IN (('', p_address), (e, p_address)) OR (f.email = e AND f.address = '' AND NOT known)
           ORDER BY f.email, f.address FOR UPDATE LOOP
    IF (r.email <> '' AND r.address <> '') OR r.failures <= 1 THEN
      DELETE FROM login_failures f WHERE f.email = r.email AND f.address = r.address;
    ELSE
      UPDATE login_failures f SET
        failures = greatest(f.failures - 1, 0),
        blocked_until = CASE WHEN f.failures - 1 < CASE WHEN f.email = '' THEN l.free_address ELSE l.free_account END
                             THEN NULL ELSE f.blocked_until END
      WHERE f.email = r.email AND f.address = r.address;
    END IF;
  END LOOP;
  IF p_user IS NOT NULL THEN
    INSERT INTO login_known_addresses AS k (user_id, address) VALUES (p_user, p_address)
    ON CONFLICT (user_id, address) DO UPDATE SET last_at = now();
  END IF;
END
$$;

-- Deletes up to p_limit rows of each table that hold nothing any more: counters whose failures are
-- forgotten and delay over, addresses not signed in from within known_ttl. Rows another attempt
-- holds are left for the next call. Returns how many rows went.
CREATE FUNCTION login_failures_prune(l login_limits, p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
  m integer;
BEGIN
  DELETE FROM login_failures WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM login_failures WHERE expires_at < now() ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED));
  GET DIAGNOSTICS n = ROW_COUNT;
  DELETE FROM login_known_addresses WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM login_known_addresses WHERE last_at < now() - make_interval(secs => l.known_ttl)
    ORDER BY last_at LIMIT p_limit FOR UPDATE SKIP LOCKED));
  GET DIAGNOSTICS m = ROW_COUNT;
  RETURN n + m;
END
$$;

-- 2. The end of every session of an account -------------------------------------------------------

-- users now also fires users_sessions_guard and users_sessions_ended (the header lists what they do;
-- the latter sends NOTIFY account_changed '{"user_id":N}').
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz
  CONSTRAINT users_tokens_valid_after_check CHECK (tokens_valid_after = date_trunc('second', tokens_valid_after));
COMMENT ON COLUMN users.tokens_valid_after IS
  'Access tokens with an earlier iat are refused; whole seconds; NULL = none refused (see 0012).';

-- The iat of an access token issued now for u: the database's clock in whole seconds, never before
-- u's tokens_valid_after.
CREATE FUNCTION token_issued_at(u users) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
  SELECT greatest(floor(extract(epoch FROM clock_timestamp())), extract(epoch FROM u.tokens_valid_after))::bigint
$$;

-- Whether an access token of u issued at p_iat (unix seconds) is still good.
CREATE FUNCTION token_valid_for(u users, p_iat bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT u.tokens_valid_after IS NULL OR p_iat >= extract(epoch FROM u.tokens_valid_after)
$$;

-- Runs after the row lock is taken (so after any sign-in or refresh holding it has committed);
-- clock_timestamp(), not now(): the transaction may have begun before that.
CREATE FUNCTION users_sessions_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.password_hash IS DISTINCT FROM OLD.password_hash OR (OLD.active AND NOT NEW.active)
     OR NEW.tokens_valid_after IS DISTINCT FROM OLD.tokens_valid_after THEN
    NEW.tokens_valid_after := greatest(to_timestamp(ceil(extract(epoch FROM clock_timestamp()))),
                                       OLD.tokens_valid_after + interval '1 second');
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER users_sessions_guard BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION users_sessions_guard();

CREATE FUNCTION users_sessions_ended() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.tokens_valid_after IS DISTINCT FROM OLD.tokens_valid_after THEN
    UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = NEW.id AND revoked_at IS NULL;
  END IF;
  IF NEW.password_hash IS DISTINCT FROM OLD.password_hash THEN
    DELETE FROM login_failures WHERE email = lower(NEW.email);
  END IF;
  IF NEW.tokens_valid_after IS DISTINCT FROM OLD.tokens_valid_after OR NEW.active IS DISTINCT FROM OLD.active THEN
    PERFORM pg_notify('account_changed', format('{"user_id":%s}', NEW.id));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER users_sessions_ended AFTER UPDATE ON users FOR EACH ROW EXECUTE FUNCTION users_sessions_ended();

-- 3. A doctor's PIX key change -----------------------------------------------------------------------

-- Called by the profile edit before it writes doctor p_doctor's PIX key as (p_type, p_key), both
-- NULL to remove it, by p_actor. When that changes the key: the doctor's room gets
-- doctor_pix_changed (both keys masked), and each closing of the doctor not yet paid gets a
-- pix_key_changed step. Returns whether the key changes.
CREATE FUNCTION doctor_pix_announce(p_doctor bigint, p_type text, p_key text, p_actor bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  d doctors;
  c closings;
  was text;
  now_is text;
BEGIN
  SELECT * INTO d FROM doctors WHERE id = p_doctor FOR NO KEY UPDATE;
  IF NOT FOUND OR (d.pix_key_type, d.pix_key) IS NOT DISTINCT FROM (p_type, p_key) THEN
    RETURN false;
  END IF;
  INSERT INTO events (name, rooms, data)
  VALUES ('doctor_pix_changed', ARRAY['doctor:' || d.id],
          jsonb_build_object('doctor_id', d.id, 'pix_key_type', p_type, 'pix_key', mask_secret(p_key),
                             'previous_pix_key_type', d.pix_key_type, 'previous_pix_key', mask_secret(d.pix_key),
                             'changed_by_user_id', p_actor,
                             'changed_by_role', (SELECT u.role FROM users u WHERE u.id = p_actor)));
  was := COALESCE(d.pix_key_type || ' ' || mask_secret(d.pix_key), 'none');
  now_is := COALESCE(p_type || ' ' || mask_secret(p_key), 'none');
  FOR c IN SELECT * FROM closings WHERE doctor_id = d.id AND status IN ('draft', 'closed', 'disputed')
           ORDER BY id FOR UPDATE LOOP
    PERFORM closing_step(c, 'pix_key_changed', c.status, p_actor,
                         format('PIX key changed from %s to %s', was, now_is)
                         || CASE WHEN c.status = 'closed' THEN '; this closing keeps the key it was closed with' ELSE '' END
                         || '.');
  END LOOP;
  RETURN true;
END
$$;
