-- Who saw this record (docs/ARCHITECTURE.md "Record access", DESIGN §11): every read of a
-- patient's clinical data, every video join token handed out, every invitation redeemed and every
-- join and leave of a video room is one append-only record_access row naming the patient, the
-- actor, their role and the request id. GET /api/audit?patient_id= reads these rows together with
-- the audit_log rows about the patient record; both draw their ids from audit_log's sequence, so
-- one id order (and one cursor) runs through both.
--
-- The entry point is record_access_write(): call it in the select list of the read's own statement
-- (the row is written only when the read returns a row, in the read's transaction, with no second
-- round trip). A NULL role records nothing: that is how RECORD_ACCESS_LOG=off switches it off.
--
-- No foreign keys on purpose: a key check would lock the patient row (FOR KEY SHARE) on every read,
-- and the log must outlive what it names. Triggers on record_access: record_access_no_update,
-- record_access_no_truncate (append-only). Triggers added elsewhere: video_participants_access (AFTER
-- INSERT OR UPDATE OF state ON video_participants) logs joins and leaves.

CREATE TABLE record_access (
  id             bigint PRIMARY KEY DEFAULT nextval(pg_get_serial_sequence('audit_log', 'id')),
  at             timestamptz NOT NULL DEFAULT now(),
  patient_id     bigint NOT NULL,
  actor_user_id  bigint,
  actor_role     text NOT NULL CONSTRAINT record_access_actor_role_check
                   CHECK (actor_role IN ('ADMIN', 'RECEPTIONIST', 'DOCTOR', 'PATIENT')),
  action         text NOT NULL CONSTRAINT record_access_action_check
                   CHECK (action IN ('patient_record_read', 'evolution_read', 'visit_history_read',
                                     'patient_history_read', 'video_token_issue', 'video_invitation_redeem',
                                     'video_join', 'video_leave', 'document_read')),
  entity         text NOT NULL CONSTRAINT record_access_entity_check CHECK (entity ~ '^[a-z_]{1,64}$'),
  entity_id      bigint,
  details        jsonb NOT NULL DEFAULT '{}'::jsonb,
  request_id     text
);
CREATE INDEX record_access_patient_idx ON record_access (patient_id, id);

CREATE TRIGGER record_access_no_update BEFORE UPDATE OR DELETE ON record_access
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER record_access_no_truncate BEFORE TRUNCATE ON record_access
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Records that p_actor (role p_role; NULL role: record nothing) did p_action on p_entity p_entity_id
-- of patient p_patient in request p_request. Returns true, so it can stand in a select list or
-- behind AND. The one way rows are written (the video trigger below calls it too).
CREATE FUNCTION record_access_write(p_patient bigint, p_action text, p_entity text, p_entity_id bigint,
                                    p_actor bigint, p_role text, p_request text, p_details jsonb DEFAULT '{}')
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF p_role IS NOT NULL AND p_patient IS NOT NULL THEN
    INSERT INTO record_access (patient_id, actor_user_id, actor_role, action, entity, entity_id, details, request_id)
    VALUES (p_patient, p_actor, p_role, p_action, p_entity, p_entity_id, COALESCE(p_details, '{}'), p_request);
  END IF;
  RETURN true;
END
$$;

-- Joins and leaves of a video room, as the signaling-server records them on video_participants.
CREATE FUNCTION video_participants_access() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  action text := CASE WHEN NEW.state = 'left' THEN 'video_leave'
                      WHEN NEW.state IN ('waiting', 'joined') THEN 'video_join' END;
BEGIN
  IF action IS NULL OR (TG_OP = 'UPDATE' AND (OLD.state = NEW.state
       OR (action = 'video_join' AND OLD.state IN ('waiting', 'joined', 'reconnecting')))) THEN
    RETURN NULL; -- admitted from the waiting room, or back from reconnecting: the same stay
  END IF;
  PERFORM record_access_write(s.patient_id, action, 'video_session', s.id, NEW.user_id, upper(NEW.role), NULL)
  FROM video_sessions s WHERE s.id = NEW.session_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER video_participants_access AFTER INSERT OR UPDATE OF state ON video_participants
  FOR EACH ROW EXECUTE FUNCTION video_participants_access();

-- An entry of "who saw this record", in the shape of an audit entry with its request id.
CREATE FUNCTION record_access_json(r record_access) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', r.id, 'at', rfc3339(r.at), 'actor_user_id', r.actor_user_id, 'actor_role', r.actor_role,
    'action', r.action, 'entity', r.entity, 'entity_id', r.entity_id,
    'details', r.details || jsonb_build_object('patient_id', r.patient_id), 'request_id', r.request_id)
$$;

-- Whether a patient may still move or cancel appointment a themselves: up to p_notice_hours before
-- its start (PATIENT_CHANGE_NOTICE_HOURS); later it is a 409 that says so. The one owner of the rule.
CREATE FUNCTION patient_change_allowed(a appointments, p_notice_hours int) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT assert_state(lower(a.period) >= now() + make_interval(hours => p_notice_hours),
                      format('Appointments can be changed online up to %s hours before they start; '
                             'please contact the clinic.', p_notice_hours))
$$;

-- A patient's own history (GET /api/patients/me/history): the visit with its evolution only once
-- signed, and its payment as the patient sees it (no shares).
CREATE FUNCTION patient_visit_json(v visits) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'visit', visit_json(v),
    'service_name', (SELECT s.name FROM services s WHERE s.id = v.service_id),
    'doctor_name', (SELECT u.full_name FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = v.doctor_id),
    'evolution', (SELECT evolution_json(e.visit_id) FROM evolutions e
                  WHERE e.visit_id = v.id AND e.signed_at IS NOT NULL),
    'payment', (SELECT jsonb_build_object('id', p.id, 'status', p.status, 'currency', p.currency,
                                          'amount_cents', p.amount_cents, 'refunded_cents', p.refunded_cents,
                                          'method', p.method, 'paid_at', rfc3339(p.paid_at))
                FROM payments p WHERE p.visit_id = v.id))
$$;
