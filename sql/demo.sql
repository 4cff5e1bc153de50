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
