-- The admitted connection of a video consultation: the doctor admits the patient's latest
-- connection (as before), and the signaling instances are told which one it is, so they close the
-- session's other patient connections (another device, a forwarded invitation) and let the admitted
-- one hear the room.
--
-- NOTIFY video_admitted, payload {"session_id": N, "connection": "<the connection's public id>"}
-- (video_connections.sid): sent at the commit of the admission; nothing else.

CREATE OR REPLACE FUNCTION video_admit(p_session bigint, p_actor bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  who text;
  conn text;
BEGIN
  SELECT * INTO s FROM video_sessions WHERE id = p_session FOR UPDATE;
  IF NOT FOUND OR s.status NOT IN ('waiting', 'in_progress') THEN
    RETURN 'No patient is waiting.';
  END IF;
  SELECT c.identity, c.sid INTO who, conn FROM video_connections c WHERE c.session_id = s.id AND c.role = 'patient'
  ORDER BY c.connected_at DESC LIMIT 1;
  UPDATE video_participants SET state = 'joined', admitted = true, admitted_at = now(), admitted_identity = who
  WHERE session_id = s.id AND role = 'patient' AND state = 'waiting' AND who IS NOT NULL;
  IF NOT FOUND THEN
    RETURN 'No patient is waiting.';
  END IF;
  IF s.status = 'waiting' THEN
    UPDATE video_sessions SET status = 'in_progress', started_at = now() WHERE id = s.id RETURNING * INTO s;
  END IF;
  PERFORM visit_set_status(s.visit_id, NULL, NULL, ARRAY['waiting', 'called'], 'in_progress', p_actor)
  FROM visits v WHERE v.id = s.visit_id AND v.status IN ('waiting', 'called');
  PERFORM video_emit('patient_admitted', s, '{}'::jsonb);
  PERFORM pg_notify('video_admitted', json_build_object('session_id', s.id, 'connection', conn)::text);
  RETURN NULL;
END
$$;

