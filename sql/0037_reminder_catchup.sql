-- Reminders after an absence of the senders: when several leads of one appointment have come due
-- meanwhile (no sender ran across the day-before and the hour-before times, say), the patient gets one
-- reminder, not one per lead at the same moment. reminders_release now takes every due row of each
-- appointment it picks (those another releaser holds are skipped, never waited for) and queues one
-- reminder per appointment; the text is rendered at release, so it tells the appointment's time as it
-- is. A lead not yet due stays planned.
--
-- Two releasers may still hold different due leads of one appointment (a long backlog, several senders
-- back at once): each then queues under a lock of the appointment, and none queues a reminder within
-- REMINDER_GAP of the last one queued for it, so the second finds the first's and sends nothing. Leads
-- are whole minutes apart and reminders an hour or a day apart, so a gap of ten minutes only ever
-- merges what came due together.

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
    PERFORM pg_advisory_xact_lock(hashtextextended('appointment_reminder ' || a.id, 0));
    CONTINUE WHEN EXISTS (SELECT 1 FROM deliveries d
                          WHERE d.entity = 'appointment' AND d.entity_id = a.id AND d.kind = 'appointment_reminder'
                            AND d.created_at > clock_timestamp() - interval '10 minutes'); -- REMINDER_GAP
    PERFORM delivery_enqueue_appointment(a, 'appointment_reminder');
    n := n + 1;
  END LOOP;
  RETURN n;
END
$$;
