-- Clinic services, doctors' weekly availability and unavailability blocks, and the free slots
-- computed from them in each clinic's time zone.

CREATE TABLE services (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  clinic_id         bigint NOT NULL REFERENCES clinics (id) ON DELETE RESTRICT,
  name              text NOT NULL CONSTRAINT services_name_check CHECK (char_length(name) BETWEEN 1 AND 120),
  duration_minutes  integer NOT NULL
                      CONSTRAINT services_duration_minutes_check CHECK (duration_minutes BETWEEN 5 AND 480),
  price_cents       bigint NOT NULL
                      CONSTRAINT services_price_cents_check CHECK (price_cents BETWEEN 0 AND 100000000),
  active            boolean NOT NULL DEFAULT true,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX services_name_key ON services (clinic_id, lower(name));
CREATE TRIGGER services_touch BEFORE UPDATE ON services FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- Minutes since midnight of a wall-clock time.
CREATE FUNCTION minute_of_day(t time) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (extract(hour FROM t) * 60 + extract(minute FROM t))::integer
$$;

-- A doctor's weekly hours: on ISO weekday (1 Monday .. 7 Sunday), from start_time to end_time
-- wall-clock in the clinic's zone, cut into slot_minutes slots of the listed consultation types.
CREATE TABLE availability_rules (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  doctor_id           bigint NOT NULL REFERENCES doctors (id) ON DELETE CASCADE,
  weekday             smallint NOT NULL CONSTRAINT availability_rules_weekday_check CHECK (weekday BETWEEN 1 AND 7),
  start_time          time(0) NOT NULL,
  end_time            time(0) NOT NULL,
  slot_minutes        integer NOT NULL
                        CONSTRAINT availability_rules_slot_minutes_check CHECK (slot_minutes BETWEEN 5 AND 240),
  consultation_types  text[] NOT NULL CONSTRAINT availability_rules_consultation_types_check
                        CHECK (cardinality(consultation_types) BETWEEN 1 AND 2
                               AND consultation_types <@ ARRAY['in_person', 'video']
                               AND NOT (cardinality(consultation_types) = 2
                                        AND consultation_types[1] = consultation_types[2])),
  created_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT availability_rules_end_time_check
    CHECK (minute_of_day(end_time) - minute_of_day(start_time) >= slot_minutes),
  -- Two rules of one doctor never cover the same minutes of a weekday.
  CONSTRAINT availability_rules_overlap_excl EXCLUDE USING gist (
    doctor_id WITH =, weekday WITH =,
    int4range(minute_of_day(start_time), minute_of_day(end_time)) WITH &&)
);

-- Times a doctor is not available (vacation, a blocked afternoon), as instants.
CREATE TABLE doctor_unavailability (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  doctor_id   bigint NOT NULL REFERENCES doctors (id) ON DELETE CASCADE,
  period      tstzrange NOT NULL CONSTRAINT doctor_unavailability_ends_at_check
                CHECK (NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)
                       AND upper(period) - lower(period) <= interval '366 days'),
  reason      text CONSTRAINT doctor_unavailability_reason_check CHECK (char_length(reason) BETWEEN 1 AND 200),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX doctor_unavailability_period_idx ON doctor_unavailability USING gist (doctor_id, period);

CREATE FUNCTION service_json(s services) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', s.id, 'clinic_id', s.clinic_id, 'name', s.name, 'duration_minutes', s.duration_minutes,
    'price_cents', s.price_cents, 'currency', c.currency, 'active', s.active, 'created_at', rfc3339(s.created_at))
  FROM clinics c WHERE c.id = s.clinic_id
$$;

CREATE FUNCTION availability_rule_json(r availability_rules) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'id', r.id, 'doctor_id', r.doctor_id, 'weekday', r.weekday,
    'start_time', to_char(r.start_time, 'HH24:MI'), 'end_time', to_char(r.end_time, 'HH24:MI'),
    'slot_minutes', r.slot_minutes, 'consultation_types', to_jsonb(r.consultation_types),
    'created_at', rfc3339(r.created_at))
$$;

CREATE FUNCTION unavailability_json(u doctor_unavailability) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'id', u.id, 'doctor_id', u.doctor_id, 'starts_at', rfc3339(lower(u.period)),
    'ends_at', rfc3339(upper(u.period)), 'reason', u.reason, 'created_at', rfc3339(u.created_at))
$$;

-- The free slots of a doctor between two local dates (inclusive) of the clinic's zone. Each rule's
-- wall-clock hours are placed on each matching local date and converted with the zone's rules of
-- that date, so a 09:00 rule stays 09:00 local across DST changes. Slots already started and slots
-- overlapping an unavailability block are left out.
CREATE FUNCTION doctor_free_slots(p_doctor bigint, p_from date, p_to date, p_type text)
RETURNS TABLE (start_time timestamptz, end_time timestamptz, consultation_type text)
LANGUAGE sql STABLE AS $$
  WITH doc AS (
    SELECT d.id, c.timezone FROM doctors d JOIN clinics c ON c.id = d.clinic_id WHERE d.id = p_doctor
  ),
  candidate AS (
    SELECT ((day::date + r.start_time) + make_interval(mins => r.slot_minutes * n)) AT TIME ZONE doc.timezone AS s,
           ((day::date + r.start_time) + make_interval(mins => r.slot_minutes * (n + 1))) AT TIME ZONE doc.timezone AS e,
           t.kind
    FROM doc
    JOIN availability_rules r ON r.doctor_id = doc.id
    JOIN generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS day
      ON extract(isodow FROM day) = r.weekday
    CROSS JOIN LATERAL generate_series(0, (minute_of_day(r.end_time) - minute_of_day(r.start_time)) / r.slot_minutes - 1) AS n
    CROSS JOIN LATERAL unnest(r.consultation_types) AS t(kind)
    WHERE p_type IS NULL OR t.kind = p_type
  )
  SELECT c.s, c.e, c.kind FROM candidate c
  WHERE c.s > now()
    AND NOT EXISTS (SELECT 1 FROM doctor_unavailability u
                    WHERE u.doctor_id = p_doctor AND u.period && tstzrange(c.s, c.e))
  ORDER BY c.s, c.kind
$$;
