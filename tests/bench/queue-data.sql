-- Benchmark dataset for the queue (loaded by tests/bench/run.sh after the demo seed, as the
-- application role, with every constraint and trigger on): 5 clinics in different zones, each with
-- a receptionist (bench-reception<k>@bench.clinic) and 4 doctors (bench-doctor<k>-<j>@bench.clinic,
-- users with role DOCTOR and a doctors row; all with the demo password, the hash is copied from
-- reception1@demo.clinic), 3 services, 4,000 patients; 200,000 completed past visits spread over the
-- 730 days before each clinic's local today (40,000 per clinic, ~55 a day, queue numbers 1.. per
-- clinic and day, check-in/start/end times giving each doctor its own median consultation time),
-- the queue counters they imply, and a busy board today (clinic_day) in the first bench clinic:
-- 140 visits — 40 completed, 3 in progress (doctors 1-3, doctor 4 free), 3 left, 8 called,
-- 86 waiting (each patient in one visit). Set-based, in three parts chosen with psql -v part=...:
--   base            the clinics, users, doctors, services, patients and today's board (one transaction);
--   visits lo hi    past visits g = lo..hi of 0..199999 (one transaction; run.sh runs two halves in
--                   parallel sessions: the per-row trigger work of visits_announce dominates the load);
--   finish          the queue counters and ANALYZE.
-- Prints nothing; the caller reads the ids back.
\set ON_ERROR_STOP 1
SELECT :'part' = 'base' AS part_base, :'part' = 'visits' AS part_visits, :'part' = 'finish' AS part_finish,
       :'part' IN ('base', 'visits') AS need_maps \gset

\if :part_base
BEGIN;

INSERT INTO clinics (name, timezone, currency)
SELECT 'Bench Clínica ' || k, (ARRAY['America/Sao_Paulo', 'America/Manaus', 'America/Recife', 'America/Cuiaba',
                                     'America/Rio_Branco'])[k], 'BRL'
FROM generate_series(1, 5) k;

\endif

\if :need_maps
CREATE TEMP TABLE bench_clinics AS
SELECT c.id, substring(c.name FROM '[0-9]+$')::int AS k, c.timezone, clinic_day(c.id, now()) AS today
FROM clinics c WHERE c.name LIKE 'Bench Clínica %';

\endif

\if :part_base
INSERT INTO users (email, password_hash, full_name, role, clinic_id)
SELECT 'bench-reception' || c.k || '@bench.clinic', h.hash, 'Recepção Bench ' || c.k, 'RECEPTIONIST', c.id
FROM bench_clinics c, (SELECT password_hash AS hash FROM users WHERE lower(email) = 'reception1@demo.clinic') h
UNION ALL
SELECT 'bench-doctor' || c.k || '-' || j || '@bench.clinic', h.hash,
       (ARRAY['Dr. Antônio', 'Dra. Beatriz', 'Dr. Caio', 'Dra. Débora'])[j] || ' ' ||
       (ARRAY['Moraes', 'Teixeira', 'Cardoso', 'Barbosa', 'Rocha'])[c.k], 'DOCTOR', c.id
FROM bench_clinics c, generate_series(1, 4) j,
     (SELECT password_hash AS hash FROM users WHERE lower(email) = 'reception1@demo.clinic') h;

INSERT INTO doctors (user_id, clinic_id, specialty, license_number)
SELECT u.id, u.clinic_id, (ARRAY['Clínica Geral', 'Pediatria', 'Cardiologia', 'Dermatologia'])[m[2]::int],
       'CRM-BENCH ' || m[1] || m[2]
FROM users u, regexp_match(u.email, '^bench-doctor([0-9])-([0-9])@') m
WHERE u.email LIKE 'bench-doctor%';

INSERT INTO services (clinic_id, name, duration_minutes, price_cents)
SELECT c.id, s.name, s.minutes, s.price
FROM bench_clinics c
CROSS JOIN (VALUES ('Consulta clínica', 30, 25000), ('Retorno', 15, 0), ('Check-up completo', 60, 45000))
  AS s (name, minutes, price);

INSERT INTO patients (clinic_id, full_name, phone, email, birth_date, sex)
SELECT c.id,
       (ARRAY['Ana','Bruno','Carla','Diego','Elisa','Fábio','Gabriela','Hugo','Isabel','Jorge','Karina','Lucas',
              'Marina','Nelson','Olívia','Pedro','Quitéria','Rafael','Sofia','Tiago'])[1 + g % 20] || ' ' ||
       (ARRAY['Silva','Souza','Costa','Oliveira','Pereira','Lima','Carvalho','Almeida','Ribeiro','Martins',
              'Araújo','Gomes','Barros','Freitas','Nunes'])[1 + (g / 20) % 15] || ' ' ||
       (ARRAY['Santos','Rodrigues','Ferreira','Alves','Mendes','Castro','Pinto','Cunha'])[1 + (g / 300) % 8],
       '+55 ' || (10 + c.k) || ' 9' || lpad((c.k * 10000 + g)::text, 8, '0'),
       CASE WHEN g % 3 <> 0 THEN 'bench' || c.k || '.' || g || '@example.com' END,
       DATE '1940-01-01' + (g * 7919) % 29000,
       (ARRAY['F', 'M', 'O'])[1 + (g % 41 = 0)::int * 2 + (g % 41 <> 0 AND g % 2 = 1)::int]
FROM bench_clinics c, generate_series(1, 4000) g;

\endif

\if :need_maps
-- (clinic k, doctor j 1..4) -> doctor id; the doctor's own median is 8..26 minutes.
CREATE TEMP TABLE bench_doctors AS
SELECT c.k, substring(u.email FROM '-([0-9])@')::int AS j, d.id, c.id AS clinic_id
FROM doctors d JOIN users u ON u.id = d.user_id JOIN bench_clinics c ON c.id = d.clinic_id;
ALTER TABLE bench_doctors ADD PRIMARY KEY (k, j);

CREATE TEMP TABLE bench_services AS
SELECT c.k, row_number() OVER (PARTITION BY c.k ORDER BY s.id)::int AS j, s.id
FROM services s JOIN bench_clinics c ON c.id = s.clinic_id;
ALTER TABLE bench_services ADD PRIMARY KEY (k, j);

CREATE TEMP TABLE bench_patients AS
SELECT c.k, row_number() OVER (PARTITION BY c.k ORDER BY p.id)::int AS j, p.id
FROM patients p JOIN bench_clinics c ON c.id = p.clinic_id;
ALTER TABLE bench_patients ADD PRIMARY KEY (k, j);

\endif

\if :part_base
-- Today's board of clinic 1: numbers 1..140, check-ins spread over the local day so far (at most
-- the last 10 hours, oldest first). Completed visits waited up to 20 minutes and lasted about the
-- doctor's usual time; the three in progress started 4, 11 and 30 minutes ago (or at check-in);
-- every time stays between the check-in and now.
INSERT INTO visits (clinic_id, patient_id, doctor_id, service_id, consultation_type, status, queue_date,
                    queue_number, check_in_time, called_at, start_time, end_time, left_at, left_reason, notes,
                    created_by, updated_by, created_at, updated_at)
SELECT c.id, p.id, d.id, s.id, 'in_person', x.status, c.today, x.n, x.ci,
       CASE WHEN x.status IN ('called', 'completed') THEN x.st
            WHEN x.status = 'in_progress' THEN x.ip END,
       CASE WHEN x.status = 'completed' THEN x.st WHEN x.status = 'in_progress' THEN x.ip END,
       CASE WHEN x.status = 'completed'
            THEN x.st + least((now() - x.st) / 2, make_interval(mins => 8 + ((c.k * 4 + x.j) * 7) % 19 + x.n % 5))
       END,
       CASE WHEN x.status = 'left' THEN x.st END, CASE WHEN x.status = 'left' THEN 'patient_left' END,
       CASE WHEN x.n % 10 = 0 THEN 'Sem agendamento' END, r.id, r.id, x.ci, x.ci
FROM bench_clinics c
CROSS JOIN LATERAL (
  SELECT y.*, y.ci + least((now() - y.ci) / 3, make_interval(mins => 5 + y.n % 16)) AS st,
         greatest(y.ci, now() - make_interval(mins => (ARRAY[4, 11, 30])[least(greatest(y.n - 40, 1), 3)])) AS ip
  FROM (SELECT n,
               CASE WHEN n <= 40 THEN 'completed' WHEN n <= 43 THEN 'in_progress' WHEN n <= 46 THEN 'left'
                    WHEN n <= 54 THEN 'called' ELSE 'waiting' END AS status,
               CASE WHEN n BETWEEN 41 AND 43 THEN n - 40 ELSE 1 + n % 4 END AS j,
               now() - least(now() - (c.today::timestamp AT TIME ZONE c.timezone), interval '10 hours')
                     * (141 - n) / 141.0 AS ci
        FROM generate_series(1, 140) n) y) x
JOIN bench_doctors d ON d.k = c.k AND d.j = x.j
JOIN bench_patients p ON p.k = c.k AND p.j = x.n
JOIN bench_services s ON s.k = c.k AND s.j = 1 + x.n % 3
JOIN users r ON r.email = 'bench-reception' || c.k || '@bench.clinic'
WHERE c.k = 1;

COMMIT;
\endif

\if :part_visits
-- Past visits: g = :lo..:hi of 0..199999 -> clinic k = 1 + g % 5; n = g / 5 -> day (1 + n % 730) days before the
-- clinic's today, queue number 1 + n / 730 (so (clinic, day, number) is unique); check-in from 07:30
-- local every 10 minutes, a wait of 0..39 minutes, then the doctor's consultation of about
-- 8..26 minutes (+-5).
INSERT INTO visits (clinic_id, patient_id, doctor_id, service_id, consultation_type, status, queue_date,
                    queue_number, check_in_time, called_at, start_time, end_time, created_by, updated_by,
                    created_at, updated_at)
SELECT x.clinic_id, p.id, d.id, s.id, CASE WHEN x.g % 9 = 0 THEN 'video' ELSE 'in_person' END, 'completed',
       x.day, x.num, x.check_in, x.check_in + x.wait - interval '1 minute', x.check_in + x.wait,
       x.check_in + x.wait + x.dur, r.id, r.id, x.check_in, x.check_in + x.wait + x.dur
FROM (SELECT g, c.id AS clinic_id, c.k, c.today - (1 + (g / 5) % 730) AS day, 1 + (g / 5) / 730 AS num,
             ((c.today - (1 + (g / 5) % 730)) + time '07:30' + make_interval(mins => 10 * ((g / 5) / 730)))
               AT TIME ZONE c.timezone AS check_in,
             make_interval(mins => 1 + (g * 31) % 39) AS wait,
             1 + (g * 7) % 4 AS j,
             1 + (g * 7919) % 4000 AS pj
      FROM generate_series(:lo, :hi) g JOIN bench_clinics c ON c.k = 1 + g % 5) x0
CROSS JOIN LATERAL (SELECT x0.*, make_interval(mins => greatest(3, 8 + ((x0.k * 4 + x0.j) * 7) % 19
                                                                  + (x0.g * 13) % 11 - 5)) AS dur) x
JOIN bench_doctors d ON d.k = x.k AND d.j = x.j
JOIN bench_patients p ON p.k = x.k AND p.j = x.pj
JOIN bench_services s ON s.k = x.k AND s.j = 1 + x.g % 3
JOIN users r ON r.email = 'bench-reception' || x.k || '@bench.clinic';

\endif

\if :part_finish
-- The counters agree with the numbers taken, so a check-in after the load gets the next one.
INSERT INTO queue_counters (clinic_id, day, last_number)
SELECT v.clinic_id, v.queue_date, max(v.queue_number)
FROM visits v JOIN clinics c ON c.id = v.clinic_id AND c.name LIKE 'Bench Clínica %'
GROUP BY v.clinic_id, v.queue_date;

ANALYZE clinics, users, doctors, services, patients, visits, visit_transitions, queue_counters, events;
\endif
