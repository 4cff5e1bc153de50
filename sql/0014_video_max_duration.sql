-- A connected video call ends by itself after VIDEO_MAX_MINUTES (the signaling instances' setting,
-- default 120): five minutes before, both sides hear video_ending_soon (once); at the limit the
-- session is completed as the doctor's end would complete it (the visit too), with end_reason
-- max_duration, and both sides hear video_session_updated. Run by the signaling instances'
-- housekeeping, each session under its own lock.
--
-- Columns added here: video_sessions.ending_warned_at (when video_ending_soon was written).

ALTER TABLE video_sessions ADD COLUMN ending_warned_at timestamptz;

-- The doctor's end (video_session_end) with a reason: the one way a call is completed.
CREATE FUNCTION video_session_end(p_id bigint, p_doctor bigint, p_notes text, p_actor bigint, p_reason text)
RETURNS video_sessions
LANGUAGE plpgsql AS $$
DECLARE
  s video_sessions;
  v visits;
BEGIN
  UPDATE video_sessions
  SET status = state_transition(status, ARRAY['in_progress'], 'completed', 'video consultation'),
      ended_at = greatest(now(), started_at), ended_by = p_actor, end_reason = p_reason
  WHERE id = p_id AND (p_doctor IS NULL OR doctor_id = p_doctor)
  RETURNING * INTO s;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  -- The visit completes when it is with the doctor (the desk may have moved it back meanwhile).
  SELECT * INTO v FROM visits WHERE id = s.visit_id AND status = 'in_progress';
  IF FOUND THEN
    v := visit_set_status(v.id, NULL, NULL, ARRAY['in_progress'], 'completed', p_actor);
    PERFORM evolution_add_notes(v, p_notes, p_actor);
  ELSE
    PERFORM assert_field(p_notes IS NULL, 'video_sessions', 'notes',
                         'cannot be kept: the consultation has no visit with the doctor');
  END IF;
  RETURN s;
END
$$;

CREATE OR REPLACE FUNCTION video_session_end(p_id bigint, p_doctor bigint, p_notes text, p_actor bigint)
RETURNS video_sessions
LANGUAGE sql AS $$ SELECT video_session_end(p_id, p_doctor, p_notes, p_actor, NULL) $$;

-- Warns and ends the calls past p_max_minutes (counted from the admission); returns how many.
CREATE FUNCTION video_sweep_duration(p_max_minutes integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer := 0;
  s video_sessions;
  max_len interval := make_interval(mins => p_max_minutes);
BEGIN
  FOR s IN SELECT * FROM video_sessions x
           WHERE x.status = 'in_progress' AND x.started_at <= now() - max_len + interval '5 minutes'
           ORDER BY x.id FOR UPDATE SKIP LOCKED LOOP
    IF s.started_at <= now() - max_len THEN
      PERFORM video_session_end(s.id, NULL, NULL, NULL, 'max_duration');
      n := n + 1;
    ELSIF s.ending_warned_at IS NULL THEN
      UPDATE video_sessions SET ending_warned_at = now() WHERE id = s.id;
      PERFORM video_emit('video_ending_soon', s,
                         jsonb_build_object('ends_at', rfc3339(s.started_at + max_len), 'max_minutes', p_max_minutes));
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END
$$;
