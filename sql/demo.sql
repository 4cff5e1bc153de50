-- Demo data: two clinics in different time zones, each with a receptionist, two doctors (with weekly
-- hours), three patients (one with a patient login) and a service catalogue, plus an installation
-- admin. Idempotent: every row is keyed by a natural key and inserted only when missing. The
-- password hash comes from the session setting seed.password_hash (set by `api-server seed-demo`).

INSERT INTO clinics (name, timezone, currency) VALUES
  ('Clínica Demo São Paulo', 'America/Sao_Paulo', 'BRL'),
  ('Clínica Demo Manaus', 'America/Manaus', 'BRL')
ON CONFLICT DO NOTHING;

CREATE TEMP TABLE demo_users (email text, full_name text, role text, clinic text) ON COMMIT DROP;
INSERT INTO demo_users VALUES
  ('admin@demo.clinic',      'Ana Admin',            'ADMIN',        NULL),
  ('reception1@demo.clinic', 'Rita Recepção',        'RECEPTIONIST', 'Clínica Demo São Paulo'),
  ('doctor1@demo.clinic',    'Dr. Daniel Souza',     'DOCTOR',       'Clínica Demo São Paulo'),
  ('doctor1b@demo.clinic',   'Dra. Beatriz Lima',    'DOCTOR',       'Clínica Demo São Paulo'),
  ('patient1@demo.clinic',   'Paulo Pereira',        'PATIENT',      'Clínica Demo São Paulo'),
  ('reception2@demo.clinic', 'Raquel Recepção',      'RECEPTIONIST', 'Clínica Demo Manaus'),
  ('doctor2@demo.clinic',    'Dr. Diego Amazonas',   'DOCTOR',       'Clínica Demo Manaus'),
  ('doctor2b@demo.clinic',   'Dra. Bianca Rocha',    'DOCTOR',       'Clínica Demo Manaus'),
  ('patient2@demo.clinic',   'Patrícia Nascimento',  'PATIENT',      'Clínica Demo Manaus');

INSERT INTO users (email, password_hash, full_name, role, clinic_id)
SELECT d.email, current_setting('seed.password_hash'), d.full_name, d.role, c.id
FROM demo_users d LEFT JOIN clinics c ON c.name = d.clinic
ON CONFLICT DO NOTHING;

INSERT INTO doctors (user_id, clinic_id, specialty, license_number)
SELECT u.id, u.clinic_id, s.specialty, s.license
FROM (VALUES ('doctor1@demo.clinic', 'Clínica Geral', 'CRM-SP 100001'),
             ('doctor1b@demo.clinic', 'Pediatria', 'CRM-SP 100002'),
             ('doctor2@demo.clinic', 'Cardiologia', 'CRM-AM 200001'),
             ('doctor2b@demo.clinic', 'Dermatologia', 'CRM-AM 200002')) AS s (email, specialty, license)
JOIN users u ON lower(u.email) = s.email
ON CONFLICT DO NOTHING;

INSERT INTO patients (clinic_id, full_name, phone, email, birth_date, sex, cpf, medical_history, user_id)
SELECT c.id, p.full_name, p.phone, p.email, p.birth_date::date, p.sex, p.cpf, p.history,
       (SELECT u.id FROM users u WHERE lower(u.email) = p.login)
FROM (VALUES
  ('Clínica Demo São Paulo', 'Paulo Pereira', '+55 11 91234-5678', 'patient1@demo.clinic', '1985-04-12', 'M',
   '12345678909', 'Hipertensão controlada.', 'patient1@demo.clinic'),
  ('Clínica Demo São Paulo', 'Maria Oliveira', '+55 11 99876-5432', 'maria.oliveira@example.com', '1992-09-30', 'F',
   '23456789173', NULL, NULL),
  ('Clínica Demo São Paulo', 'João Santos', '(11) 3456-7890', NULL, '2015-01-20', 'M', '34567891228',
   'Alergia a penicilina.', NULL),
  ('Clínica Demo Manaus', 'Patrícia Nascimento', '+55 92 98765-4321', 'patient2@demo.clinic', '1978-11-05', 'F',
   '45678912364', NULL, 'patient2@demo.clinic'),
  ('Clínica Demo Manaus', 'Carlos Mendes', '+55 92 99123-4567', 'carlos.mendes@example.com', '1969-06-17', 'M',
   '56789123482', 'Diabetes tipo 2.', NULL),
  ('Clínica Demo Manaus', 'Lúcia Ferreira', '(92) 3234-5678', NULL, '2001-03-08', 'F', '67891234582', NULL, NULL)
) AS p (clinic, full_name, phone, email, birth_date, sex, cpf, history, login)
JOIN clinics c ON c.name = p.clinic
ON CONFLICT DO NOTHING;

-- A service catalogue for each clinic.
INSERT INTO services (clinic_id, name, duration_minutes, price_cents)
SELECT c.id, s.name, s.minutes, s.price
FROM clinics c
CROSS JOIN (VALUES ('Consulta clínica', 30, 25000), ('Retorno', 15, 0), ('Teleconsulta', 30, 20000),
                   ('Check-up completo', 60, 45000)) AS s (name, minutes, price)
WHERE c.name IN ('Clínica Demo São Paulo', 'Clínica Demo Manaus')
ON CONFLICT DO NOTHING;

-- Fees: each doctor keeps 60% of a consultation by default, 70% of a check-up. Dr. Daniel is paid
-- by PIX to his CPF, Dra. Bianca to her e-mail.
INSERT INTO fee_rules (clinic_id, service_id, doctor_id, doctor_share_bps)
SELECT c.id, NULL::bigint, NULL::bigint, 6000 FROM clinics c WHERE c.name IN ('Clínica Demo São Paulo', 'Clínica Demo Manaus')
UNION ALL
SELECT s.clinic_id, s.id, NULL, 7000 FROM services s JOIN clinics c ON c.id = s.clinic_id
WHERE c.name IN ('Clínica Demo São Paulo', 'Clínica Demo Manaus') AND s.name = 'Check-up completo'
ON CONFLICT DO NOTHING;

UPDATE doctors d SET pix_key_type = k.kind, pix_key = k.key
FROM (VALUES ('doctor1@demo.clinic', 'cpf', '52998224725'), ('doctor2b@demo.clinic', 'email', 'bianca.rocha@example.com'))
       AS k (email, kind, key)
JOIN users u ON lower(u.email) = k.email
WHERE d.user_id = u.id AND d.pix_key IS NULL;

-- Every demo doctor sees patients Monday to Friday, 08:00-12:00 and 14:00-18:00 local time, in
-- person or by video, in 30-minute slots.
INSERT INTO availability_rules (doctor_id, weekday, start_time, end_time, slot_minutes, consultation_types)
SELECT d.id, wd, h.start_time, h.end_time, 30, ARRAY['in_person', 'video']
FROM doctors d
JOIN users u ON u.id = d.user_id
CROSS JOIN generate_series(1, 5) AS wd
CROSS JOIN (VALUES (time '08:00', time '12:00'), (time '14:00', time '18:00')) AS h (start_time, end_time)
WHERE u.email IN ('doctor1@demo.clinic', 'doctor1b@demo.clinic', 'doctor2@demo.clinic', 'doctor2b@demo.clinic')
ON CONFLICT DO NOTHING;

-- More patients of the São Paulo clinic, for a busy day.
INSERT INTO patients (clinic_id, full_name, phone, email, birth_date, sex)
SELECT c.id, p.full_name, p.phone, p.email, p.birth_date::date, p.sex
FROM (VALUES
  ('Ana Costa', '+55 11 98111-2233', 'ana.costa@example.com', '1990-02-14', 'F'),
  ('Bruno Almeida', '+55 11 97222-3344', NULL, '1983-07-01', 'M'),
  ('Carla Ribeiro', '+55 11 96333-4455', 'carla.ribeiro@example.com', '1975-12-24', 'F'),
  ('Diego Martins', '+55 11 95444-5566', NULL, '2008-05-09', 'M'),
  ('Elisa Rocha', '+55 11 94555-6677', 'elisa.rocha@example.com', '1996-10-31', 'F')
) AS p (full_name, phone, email, birth_date, sex)
JOIN clinics c ON c.name = 'Clínica Demo São Paulo'
WHERE NOT EXISTS (SELECT 1 FROM patients x WHERE x.clinic_id = c.id AND x.full_name = p.full_name);

-- Today, in the São Paulo clinic's zone: appointments across the day for both doctors, and a live
-- queue (one patient with Dr. Daniel, three waiting). Laid out once per day: skipped when the
-- clinic already has appointments or visits today.
DO $$
DECLARE
  c clinics;
  today date;
  desk bigint;
  svc bigint;
  doc1 bigint;
  doc2 bigint;
  times time[] := ARRAY['09:00', '10:30', '14:00', '15:30', '17:00']::time[];
  pats1 text[] := ARRAY['Paulo Pereira', 'Maria Oliveira', 'Bruno Almeida', 'Carla Ribeiro', 'Diego Martins'];
  pats2 text[] := ARRAY['Ana Costa', 'Elisa Rocha', 'Diego Martins', 'Bruno Almeida', 'Carla Ribeiro'];
  v visits;
  a appointments;
BEGIN
  SELECT * INTO c FROM clinics WHERE name = 'Clínica Demo São Paulo';
  today := clinic_day(c.id, now());
  IF EXISTS (SELECT 1 FROM visits x WHERE x.clinic_id = c.id AND x.queue_date = today)
     OR EXISTS (SELECT 1 FROM appointments x WHERE x.clinic_id = c.id AND clinic_day(c.id, lower(x.period)) = today) THEN
    RETURN;
  END IF;
  SELECT u.id INTO desk FROM users u WHERE lower(u.email) = 'reception1@demo.clinic';
  SELECT s.id INTO svc FROM services s WHERE s.clinic_id = c.id AND s.name = 'Consulta clínica';
  SELECT d.id INTO doc1 FROM doctors d JOIN users u ON u.id = d.user_id WHERE lower(u.email) = 'doctor1@demo.clinic';
  SELECT d.id INTO doc2 FROM doctors d JOIN users u ON u.id = d.user_id WHERE lower(u.email) = 'doctor1b@demo.clinic';

  INSERT INTO appointments (clinic_id, doctor_id, patient_id, service_id, consultation_type, period, created_by)
  SELECT c.id, x.doctor, p.id, svc, 'in_person',
         tstzrange((today + times[x.k]) AT TIME ZONE c.timezone,
                   (today + times[x.k] + interval '30 minutes') AT TIME ZONE c.timezone), desk
  FROM (SELECT doc1 AS doctor, k, pats1[k] AS name FROM generate_series(1, 5) k
        UNION ALL SELECT doc2, k, pats2[k] FROM generate_series(1, 5) k) x
  JOIN patients p ON p.clinic_id = c.id AND p.full_name = x.name;

  -- The queue: Paulo (09:00 with Dr. Daniel) is with the doctor; Ana (09:00 with Dra. Beatriz) and
  -- Maria (10:30 with Dr. Daniel) checked in; João came without an appointment.
  FOR a IN SELECT x.* FROM appointments x JOIN patients p ON p.id = x.patient_id
           WHERE x.clinic_id = c.id AND clinic_day(c.id, lower(x.period)) = today
             AND (x.doctor_id, p.full_name) IN ((doc1, 'Paulo Pereira'), (doc2, 'Ana Costa'), (doc1, 'Maria Oliveira'))
           ORDER BY lower(x.period), x.doctor_id
  LOOP
    UPDATE appointments SET status = 'checked_in' WHERE id = a.id;
    v := visit_enqueue(c.id, a.patient_id, a.doctor_id, a.service_id, a.id, a.consultation_type, NULL, desk);
  END LOOP;
  v := visit_enqueue(c.id, (SELECT p.id FROM patients p WHERE p.clinic_id = c.id AND p.full_name = 'João Santos'),
                     doc2, svc, NULL, 'in_person', 'Sem agendamento', desk);
  -- Checked in over the last 45 minutes, but never before the start of the local day.
  UPDATE visits SET check_in_time = greatest(now() - make_interval(mins => 45 - 10 * queue_number),
                                             today::timestamp AT TIME ZONE c.timezone)
  WHERE clinic_id = c.id AND queue_date = today;
  v := visit_move((SELECT x.id FROM visits x JOIN patients p ON p.id = x.patient_id
                         WHERE x.clinic_id = c.id AND x.queue_date = today AND p.full_name = 'Paulo Pereira'),
                  c.id, NULL, 'in_progress', desk);
END
$$;
