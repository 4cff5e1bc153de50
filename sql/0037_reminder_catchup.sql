-- Reminders after an absence of the senders: when several leads of one appointment have come due
-- meanwhile (no sender ran across the day-before and the hour-before times, say), the patient gets one
-- reminder, not one per lead at the same moment. reminders_release now takes every due row of each
-- appointment it picks (those another releaser holds are skipped, never waited for) and queues one
-- reminder per appointment; the text is rendered at release, so it tells the appointment's time as it
-- is. A lead not yet due stays planned.

CREATE OR REPLACE FUNCTION reminders_release(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  a appointments;
  n integer := 0;
BEGIN
  FOR a IN
    WITH picked AS (
      SELECT x.appointment_id FROM appointment_reminders x WHERE x.due_at <= now()
      ORDER BY x.due_at LIMIT p_limit FOR UPDATE SKIP LOCKED),
    taken AS ( -- the picked appointments' other due leads too, unless another releaser holds them
      SELECT x.appointment_id, x.lead_minutes FROM appointment_reminders x
      WHERE x.appointment_id IN (SELECT appointment_id FROM picked) AND x.due_at <= now()
      FOR UPDATE SKIP LOCKED),
    due AS (
      DELETE FROM appointment_reminders r
      WHERE (r.appointment_id, r.lead_minutes) IN (SELECT appointment_id, lead_minutes FROM taken)
      RETURNING r.appointment_id)
    SELECT ap.* FROM appointments ap
    WHERE ap.id IN (SELECT appointment_id FROM due) AND ap.status = 'confirmed' AND lower(ap.period) > now()
  LOOP
    PERFORM delivery_enqueue_appointment(a, 'appointment_reminder');
    n := n + 1;
  END LOOP;
  RETURN n;
END
$$;
