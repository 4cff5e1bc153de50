-- A moved appointment reaches the inbox too (0027's notify_user), beside 0024's e-mail/SMS notice:
-- `appointment_rescheduled` to the patient's user and the doctor's user, with the old and the new time
-- and, when the change gave one, its reason (a doctor must give one; docs/ARCHITECTURE.md §16, §18).
--
-- Triggers added here:
--   appointments_inbox_reschedule  AFTER UPDATE OF period ON appointments   appointment_rescheduled notifications

CREATE FUNCTION appointments_inbox_reschedule() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  doctor_user bigint;
  doctor_name text;
  patient_user bigint;
  patient_name text;
  old_text text;
  new_text text;
  why text := CASE WHEN NEW.reschedule_reason IS DISTINCT FROM OLD.reschedule_reason THEN NEW.reschedule_reason END;
  data jsonb;
BEGIN
  SELECT d.user_id, u.full_name INTO doctor_user, doctor_name
    FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = NEW.doctor_id;
  SELECT p.user_id, p.full_name INTO patient_user, patient_name FROM patients p WHERE p.id = NEW.patient_id;
  SELECT clinic_time_text(lower(OLD.period), c.timezone, c.language), clinic_time_text(lower(NEW.period), c.timezone, c.language)
    INTO old_text, new_text FROM clinics c WHERE c.id = NEW.clinic_id;
  data := jsonb_build_object('appointment_id', NEW.id, 'clinic_id', NEW.clinic_id, 'doctor_id', NEW.doctor_id,
                             'patient_id', NEW.patient_id, 'start', rfc3339(lower(NEW.period)),
                             'previous_start', rfc3339(lower(OLD.period)), 'status', NEW.status, 'reason', why);
  PERFORM notify_user(patient_user, 'appointment_rescheduled', 'Appointment moved',
                      doctor_name || ': ' || old_text || ' → ' || new_text || COALESCE(' (' || why || ')', ''), data);
  PERFORM notify_user(doctor_user, 'appointment_rescheduled', 'Appointment moved',
                      patient_label(patient_name) || ': ' || old_text || ' → ' || new_text, data);
  RETURN NULL;
END
$$;
CREATE TRIGGER appointments_inbox_reschedule AFTER UPDATE OF period ON appointments
  FOR EACH ROW WHEN (lower(OLD.period) <> lower(NEW.period) AND NEW.status IN ('requested', 'confirmed'))
  EXECUTE FUNCTION appointments_inbox_reschedule();
COMMENT ON TRIGGER appointments_inbox_reschedule ON appointments IS
  'notify_user: appointment_rescheduled to the patient''s user and the doctor''s user (0035).';
