-- Invariants the database keeps that earlier migrations left to the code.
--
-- 1. A user's role matches their link: a DOCTOR user has exactly one doctor record, a PATIENT user
--    exactly one patient record, an ADMIN or RECEPTIONIST none. Checked at commit (deferred
--    constraint triggers on users, doctors and patients), so a user and its record may be written
--    by two statements of one transaction. The API never breaks it; a write that would is refused
--    at COMMIT with SQLSTATE 23000 (a 500, and a line in the log: it is a bug).
-- 2. The last active admin cannot be deactivated (nor lose the role, nor be deleted): 55000 with a
--    HINT, a 409. Deactivations of admins take one transaction-level advisory lock after their row
--    lock and count the other active admins with a snapshot taken after it, so two admins who
--    deactivate each other at the same moment cannot both succeed: the second to get the lock sees
--    the first's commit. Only the row being deactivated is locked (never another admin's row), so
--    two such transactions cannot deadlock.
-- 3. is_valid_timezone reads pg_timezone_names, which can change with the server's time zone data:
--    it is STABLE, not IMMUTABLE. The CHECK on clinics.timezone keeps working (PostgreSQL allows a
--    non-immutable CHECK; it is evaluated when a row is written); nothing IMMUTABLE and no index
--    may depend on it, which this migration verifies.

-- 1. Role and link ----------------------------------------------------------------------------------------------

-- Raises unless user p_user (if it still exists) has the doctor and patient records its role calls for.
CREATE FUNCTION user_role_link_check(p_user bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  r text;
  doctors_n integer;
  patients_n integer;
BEGIN
  SELECT u.role INTO r FROM users u WHERE u.id = p_user;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  SELECT count(*) INTO doctors_n FROM doctors d WHERE d.user_id = p_user;
  SELECT count(*) INTO patients_n FROM patients p WHERE p.user_id = p_user;
  IF doctors_n <> (r = 'DOCTOR')::integer OR patients_n <> (r = 'PATIENT')::integer THEN
    RAISE EXCEPTION 'user % (%) has % doctor and % patient records', p_user, r, doctors_n, patients_n
      USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'users_role_link_check',
            DETAIL = 'A DOCTOR user has exactly one doctor record, a PATIENT user one patient record, others none.';
  END IF;
END
$$;

CREATE FUNCTION users_role_link_deferred() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.user_id IS NOT NULL THEN
    PERFORM user_role_link_check(OLD.user_id);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.user_id IS NOT NULL THEN
    PERFORM user_role_link_check(NEW.user_id);
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION users_role_link_self() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM user_role_link_check(NEW.id);
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER users_role_link AFTER INSERT OR UPDATE OF role ON users
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION users_role_link_self();
CREATE CONSTRAINT TRIGGER doctors_role_link AFTER INSERT OR UPDATE OF user_id OR DELETE ON doctors
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION users_role_link_deferred();
CREATE CONSTRAINT TRIGGER patients_role_link AFTER INSERT OR UPDATE OF user_id OR DELETE ON patients
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION users_role_link_deferred();

-- The rows already there must hold it too (the migration fails, naming a user, otherwise).
DO $$
DECLARE
  u bigint;
BEGIN
  FOR u IN SELECT id FROM users ORDER BY id LOOP
    PERFORM user_role_link_check(u);
  END LOOP;
END
$$;

-- 2. The last active admin ---------------------------------------------------------------------------------------

CREATE FUNCTION users_keep_an_admin() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.role <> 'ADMIN' OR NOT OLD.active
     OR (TG_OP = 'UPDATE' AND NEW.role = 'ADMIN' AND NEW.active) THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  -- The same key for every such change; released at the end of the transaction.
  PERFORM pg_advisory_xact_lock(hashtext('users_keep_an_admin'));
  -- A new statement, so a new snapshot: it sees a concurrent deactivation that committed while we waited.
  IF NOT EXISTS (SELECT 1 FROM users u WHERE u.role = 'ADMIN' AND u.active AND u.id <> OLD.id) THEN
    RAISE EXCEPTION 'user % is the last active admin', OLD.id
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'This is the last active admin account; it cannot be deactivated.';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER users_keep_an_admin BEFORE UPDATE OF active, role OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION users_keep_an_admin();

-- 3. is_valid_timezone -------------------------------------------------------------------------------------------

ALTER FUNCTION is_valid_timezone(text) STABLE PARALLEL SAFE;

DO $$
DECLARE
  what text;
BEGIN
  SELECT string_agg(x, ', ') INTO what FROM (
    SELECT 'function ' || p.oid::regprocedure::text AS x FROM pg_proc p
    WHERE p.provolatile = 'i' AND p.prosrc ~ 'is_valid_timezone' AND p.proname <> 'is_valid_timezone'
    UNION ALL
    SELECT 'index ' || i.indexrelid::regclass::text FROM pg_index i
    WHERE pg_get_indexdef(i.indexrelid) ~ 'is_valid_timezone'
    UNION ALL
    SELECT 'column ' || a.attrelid::regclass::text || '.' || a.attname FROM pg_attrdef d
    JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
    WHERE a.attgenerated = 's' AND pg_get_expr(d.adbin, d.adrelid) ~ 'is_valid_timezone') s;
  IF what IS NOT NULL THEN
    RAISE EXCEPTION 'is_valid_timezone is STABLE, but these need it IMMUTABLE: %', what;
  END IF;
END
$$;
