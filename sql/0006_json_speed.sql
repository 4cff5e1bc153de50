-- The JSON shapes are declared STABLE, as what they call (to_char, time-zone conversion) is, so
-- PostgreSQL inlines them into the queries that use them instead of calling them row by row.
ALTER FUNCTION rfc3339(timestamptz) STABLE;
ALTER FUNCTION rfc3339_exact(timestamptz) STABLE;
ALTER FUNCTION service_json(services) STABLE;
ALTER FUNCTION availability_rule_json(availability_rules) STABLE;
ALTER FUNCTION unavailability_json(doctor_unavailability) STABLE;
ALTER FUNCTION appointment_json(appointments) STABLE;
ALTER FUNCTION event_json(events) STABLE;
ALTER FUNCTION visit_json(visits) STABLE;
ALTER FUNCTION visit_summary_json(visits) STABLE;
