-- What each reader sees of a doctor and of a patient: one rule, applied by every route that
-- answers with those records (GET/POST/PATCH /api/patients..., GET /api/doctors...).
--
-- Doctors: staff (ADMIN, RECEPTIONIST, DOCTOR) read the full doctor_json (PIX key masked; the
-- answer to a profile edit shows it in full, as before). Anyone else, i.e. a PATIENT, reads the
-- public projection: no e-mail, licence number, PIX fields, user id or creation time.
--
-- Patients: clinical fields (medical_history) are read by the roles that treat (ADMIN, DOCTOR) and
-- by the patient on their own record (the routes let a PATIENT reach no other), and written by the
-- roles that treat. A RECEPTIONIST reads the desk projection, without them, and a body that sets
-- one is refused with 422 on that field: a value the desk cannot read back would be written blind.
--
-- An unknown or NULL role gets the narrowest projection. The purely clinical routes (a visit's
-- evolution, a patient's history with a doctor, the doctor's patient list) are closed to
-- receptionists by the route table (api-server/routes.c), so their builders need no reader.

-- Whether p_role reads and writes patients' clinical fields.
CREATE FUNCTION role_reads_clinical(p_role text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE(p_role IN ('ADMIN', 'DOCTOR', 'PATIENT'), false)
$$;

-- Whether p_role reads doctors' private fields (e-mail, licence number, masked PIX key).
CREATE FUNCTION role_reads_doctor_private(p_role text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE(p_role IN ('ADMIN', 'RECEPTIONIST', 'DOCTOR'), false)
$$;

-- A doctor as patients see them.
CREATE FUNCTION doctor_public_json(d doctors) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', d.id, 'clinic_id', d.clinic_id, 'full_name', u.full_name,
                            'specialty', d.specialty, 'active', u.active)
  FROM users u WHERE u.id = d.user_id
$$;

-- A doctor as a reader of role p_reader sees them.
CREATE FUNCTION doctor_json_for(d doctors, p_reader text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN role_reads_doctor_private(p_reader) THEN doctor_json(d) ELSE doctor_public_json(d) END
$$;

-- A patient as a reader of role p_reader sees them.
CREATE FUNCTION patient_json_for(p patients, p_reader text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN role_reads_clinical(p_reader) THEN patient_json(p) ELSE patient_json(p) - 'medical_history' END
$$;

-- The new value of a patient's clinical field col, written by a user of role p_writer: p_value,
-- or the 422 of that field when the role does not read clinical fields. Called only for a field
-- the body sets, and only on the row being written, so a record out of reach stays a 404.
CREATE FUNCTION patient_clinical_value(p_value text, col text, p_writer text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM assert_field(role_reads_clinical(p_writer), 'patients', col,
                       'is a clinical field: only doctors and admins write it');
  RETURN p_value;
END
$$;
