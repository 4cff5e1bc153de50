-- One definition of a doctor's free slots. doctor_free_slots was written three times (0002, 0003,
-- 0005), each a copy of the last with a part added; here it is defined once more, for good, from
-- the pieces it shares with the booking rule: the slots of the weekly rules (doctor_rule_slots,
-- 0005), the doctor's blocks (doctor_blocked, below, which doctor_offers now reads too) and their
-- active appointments (doctor_booked). The helpers are plain SELECTs the planner inlines, so the
-- overlap tests still use the GiST indexes on (doctor_id, period).

-- The periods in which doctor p_doctor is blocked: their unavailability blocks.
CREATE OR REPLACE FUNCTION doctor_blocked(p_doctor bigint)
RETURNS TABLE (period tstzrange)
LANGUAGE sql STABLE AS $$
  SELECT u.period FROM doctor_unavailability u WHERE u.doctor_id = p_doctor
$$;

-- The periods of doctor p_doctor's active appointments: requested, confirmed or checked in, the
-- statuses the overlap constraints of appointments hold to.
CREATE OR REPLACE FUNCTION doctor_booked(p_doctor bigint)
RETURNS TABLE (period tstzrange)
LANGUAGE sql STABLE AS $$
  SELECT a.period FROM appointments a WHERE a.doctor_id = p_doctor AND a.status IN ('requested', 'confirmed', 'checked_in')
$$;

-- The free slots of a doctor between two local dates (inclusive) of the clinic's zone: the slots
-- of their weekly rules that start in the future and overlap none of their blocks and active
-- appointments.
CREATE OR REPLACE FUNCTION doctor_free_slots(p_doctor bigint, p_from date, p_to date, p_type text)
RETURNS TABLE (start_time timestamptz, end_time timestamptz, consultation_type text)
LANGUAGE sql STABLE AS $$
  SELECT c.start_time, c.end_time, c.consultation_type FROM doctor_rule_slots(p_doctor, p_from, p_to, p_type) c
  WHERE c.start_time > now()
    AND NOT EXISTS (SELECT 1 FROM doctor_blocked(p_doctor) b WHERE b.period && tstzrange(c.start_time, c.end_time))
    AND NOT EXISTS (SELECT 1 FROM doctor_booked(p_doctor) b WHERE b.period && tstzrange(c.start_time, c.end_time))
  ORDER BY c.start_time, c.consultation_type
$$;

-- Whether the doctor offers [p_start, p_end) of type p_type to a patient booking themself (as in
-- 0005): a published slot's start on its local day, ending within that rule's hours, in the
-- future, clear of their blocks. Other appointments are left to the exclusion constraints, so two
-- patients taking one slot at once get the same clean conflict as two desks.
CREATE OR REPLACE FUNCTION doctor_offers(p_doctor bigint, p_start timestamptz, p_end timestamptz, p_type text)
RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT p_start > now()
     AND EXISTS (SELECT 1 FROM doctors d JOIN clinics c ON c.id = d.clinic_id
                 CROSS JOIN LATERAL (SELECT (p_start AT TIME ZONE c.timezone)::date AS day) l
                 CROSS JOIN LATERAL doctor_rule_slots(d.id, l.day, l.day, p_type) s
                 WHERE d.id = p_doctor AND s.start_time = p_start AND p_end <= s.rule_end)
     AND NOT EXISTS (SELECT 1 FROM doctor_blocked(p_doctor) b WHERE b.period && tstzrange(p_start, p_end))
$$;
