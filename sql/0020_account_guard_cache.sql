-- What the API's guard reads of an account, and a notification for every change of it, so an
-- api-server can keep the answer in memory (api-server/account_listener.c, common/accountcache.c)
-- instead of asking the database on every authenticated request.
--
-- 1. account_guard_state(p_user): the account's active flag, the earliest iat its access tokens may
--    carry (token_iat_floor: tokens_valid_after in unix seconds, 0 when none), its role and its
--    clinic; no row for an unknown user. token_valid_for (0012) is now written with
--    token_iat_floor, so the floor has one definition; the guard accepts a token whose iat is at or
--    above it, the same comparison.
-- 2. NOTIFY account_changed '{"user_id":N}' (0012 sends it when tokens_valid_after or active
--    change) is now also sent when a user's role or clinic changes and when a user is deleted (for
--    the old id when an id changes, and for the new one), so whatever a reader of
--    account_guard_state holds is announced when it changes. A TRUNCATE of users sends '{}' (no
--    user: every account). All are sent in the transaction of the change: listeners hear them only
--    once it commits. PostgreSQL folds equal notifications of one transaction into one.
--
-- Triggers added on users (besides 0001's, 0012's and 0017's):
--   users_account_changed   AFTER UPDATE, when role, clinic_id or id change: notifies (see 2).
--   users_account_deleted   AFTER DELETE: notifies (see 2).
--   users_account_truncated AFTER TRUNCATE (per statement): notifies '{}'.

CREATE FUNCTION token_iat_floor(u users) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT COALESCE(extract(epoch FROM u.tokens_valid_after), 0)::bigint
$$;

CREATE OR REPLACE FUNCTION token_valid_for(u users, p_iat bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT p_iat >= token_iat_floor(u)
$$;

CREATE FUNCTION account_guard_state(p_user bigint)
RETURNS TABLE (active boolean, iat_floor bigint, role text, clinic_id bigint)
LANGUAGE sql STABLE AS $$
  SELECT u.active, token_iat_floor(u), u.role, u.clinic_id FROM users u WHERE u.id = p_user
$$;

CREATE FUNCTION users_account_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_LEVEL = 'STATEMENT' THEN
    PERFORM pg_notify('account_changed', '{}');
    RETURN NULL;
  END IF;
  PERFORM pg_notify('account_changed', format('{"user_id":%s}', OLD.id));
  IF TG_OP = 'UPDATE' AND NEW.id <> OLD.id THEN
    PERFORM pg_notify('account_changed', format('{"user_id":%s}', NEW.id));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER users_account_changed AFTER UPDATE ON users FOR EACH ROW
  WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.clinic_id IS DISTINCT FROM NEW.clinic_id OR OLD.id <> NEW.id)
  EXECUTE FUNCTION users_account_notify();
CREATE TRIGGER users_account_deleted AFTER DELETE ON users FOR EACH ROW EXECUTE FUNCTION users_account_notify();
CREATE TRIGGER users_account_truncated AFTER TRUNCATE ON users FOR EACH STATEMENT EXECUTE FUNCTION users_account_notify();
