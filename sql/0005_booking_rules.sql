-- Slots that stay right across daylight-saving changes, and the rule a patient's own booking
-- follows: the whole appointment inside the doctor's published hours, clear of their blocks.

-- The slots a doctor's weekly rules give between two local dates (the clinic's zone), with the end
-- of the rule's hours that day. A slot starts at a wall-clock time that exists that day (the hour
-- skipped when clocks go forward has none) and lasts slot_minutes of real time, also when clocks
-- go back.
CREATE FUNCTION doctor_rule_slots(p_doctor bigint, p_from date, p_to date, p_type text)
RETURNS TABLE (start_time timestamptz, end_time timestamptz, consultation_type text, rule_end timestamptz)
LANGUAGE sql STABLE AS $$
  SELECT i.s, i.s + make_interval(mins => r.slot_minutes), t.kind, (day::date + r.end_time) AT TIME ZONE c.timezone
  FROM doctors d
  JOIN clinics c ON c.id = d.clinic_id
  JOIN availability_rules r ON r.doctor_id = d.id
  JOIN generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS day
    ON extract(isodow FROM day) = r.weekday
  CROSS JOIN LATERAL generate_series(0, (minute_of_day(r.end_time) - minute_of_day(r.start_time)) / r.slot_minutes - 1) AS n
  CROSS JOIN LATERAL (SELECT day::date + r.start_time + make_interval(mins => r.slot_minutes * n) AS local) l
  CROSS JOIN LATERAL (SELECT l.local AT TIME ZONE c.timezone AS s) i
  CROSS JOIN LATERAL unnest(r.consultation_types) AS t(kind)
  WHERE d.id = p_doctor
    AND (i.s AT TIME ZONE c.timezone) = l.local
    AND (p_type IS NULL OR t.kind = p_type)
$$;

CREATE OR REPLACE FUNCTION doctor_free_slots(p_doctor bigint, p_from date, p_to date, p_type text)
RETURNS TABLE (start_time timestamptz, end_time timestamptz, consultation_type text)
LANGUAGE sql STABLE AS $$
  SELECT c.start_time, c.end_time, c.consultation_type
  FROM doctor_rule_slots(p_doctor, p_from, p_to, p_type) c
  WHERE c.start_time > now()
    AND NOT EXISTS (SELECT 1 FROM doctor_unavailability u
                    WHERE u.doctor_id = p_doctor AND u.period && tstzrange(c.start_time, c.end_time))
    AND NOT EXISTS (SELECT 1 FROM appointments a
                    WHERE a.doctor_id = p_doctor AND a.status IN ('requested', 'confirmed', 'checked_in')
                      AND a.period && tstzrange(c.start_time, c.end_time))
  ORDER BY c.start_time, c.consultation_type
$$;

-- Whether the doctor offers [p_start, p_end) of type p_type to a patient booking themself: it
-- starts at a published slot, ends within that rule's hours, is in the future and overlaps no
-- block. Other appointments are left to the exclusion constraints, so two patients taking one
-- slot at once get the same clean conflict as two desks.
CREATE FUNCTION doctor_offers(p_doctor bigint, p_start timestamptz, p_end timestamptz, p_type text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT p_start > now()
     AND EXISTS (SELECT 1 FROM doctors d JOIN clinics c ON c.id = d.clinic_id,
                      doctor_rule_slots(d.id, (p_start AT TIME ZONE c.timezone)::date,
                                        (p_start AT TIME ZONE c.timezone)::date, p_type) s
                 WHERE d.id = p_doctor AND s.start_time = p_start AND p_end <= s.rule_end)
     AND NOT EXISTS (SELECT 1 FROM doctor_unavailability u
                     WHERE u.doctor_id = p_doctor AND u.period && tstzrange(p_start, p_end))
$$;
