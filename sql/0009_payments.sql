-- Money (DESIGN §2, §4): fee rules (the price of a service and the doctor's share of it in basis
-- points, with per-doctor overrides), the payment billed automatically when a consultation is
-- completed (exactly once per visit, its share snapshotted), its settlement and refunds, and the
-- responses kept for Idempotency-Key retries.
--
-- Rounding rule (also in openapi.yaml): the doctor's share of an amount is
-- floor((amount_cents * doctor_share_bps + 5000) / 10000), i.e. rounded half up to the cent; the
-- centre's share is the rest, so the two always sum to the amount. Refunds are split so that
-- the doctor's part of everything refunded so far is the share of that total: each refund's
-- doctor part is share(refunded after) - share(refunded before), and a full refund takes back
-- exactly the doctor's share of the payment.

CREATE FUNCTION money_share(p_amount bigint, p_bps integer) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT (p_amount * p_bps + 5000) / 10000
$$;

-- The fee rules of a clinic. The most specific one applies to a consultation: the service and the
-- doctor, then the service, then the doctor, then the clinic-wide rule (both null). A rule's
-- price_cents overrides the service's price; null takes the service's.
CREATE TABLE fee_rules (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  clinic_id         bigint NOT NULL REFERENCES clinics (id) ON DELETE RESTRICT,
  service_id        bigint,
  doctor_id         bigint,
  doctor_share_bps  integer NOT NULL CONSTRAINT fee_rules_doctor_share_bps_check CHECK (doctor_share_bps BETWEEN 0 AND 10000),
  price_cents       bigint CONSTRAINT fee_rules_price_cents_check CHECK (price_cents BETWEEN 0 AND 100000000),
  created_by        bigint REFERENCES users (id) ON DELETE RESTRICT,
  updated_by        bigint REFERENCES users (id) ON DELETE RESTRICT,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT fee_rules_service_id_fkey FOREIGN KEY (service_id, clinic_id) REFERENCES services (id, clinic_id),
  CONSTRAINT fee_rules_doctor_id_fkey FOREIGN KEY (doctor_id, clinic_id) REFERENCES doctors (id, clinic_id),
  CONSTRAINT fee_rules_scope_key UNIQUE NULLS NOT DISTINCT (clinic_id, service_id, doctor_id)
);
CREATE TRIGGER fee_rules_touch BEFORE UPDATE ON fee_rules FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE FUNCTION fee_rule_json(f fee_rules) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('id', f.id, 'clinic_id', f.clinic_id, 'service_id', f.service_id, 'doctor_id', f.doctor_id,
                            'doctor_share_bps', f.doctor_share_bps, 'price_cents', f.price_cents,
                            'created_at', rfc3339(f.created_at), 'updated_at', rfc3339(f.updated_at))
$$;

-- The rule that applies to a consultation of p_doctor for p_service in p_clinic (NULL: none).
CREATE FUNCTION fee_rule_for(p_clinic bigint, p_service bigint, p_doctor bigint) RETURNS fee_rules
LANGUAGE sql STABLE AS $$
  SELECT f.* FROM fee_rules f
  WHERE f.clinic_id = p_clinic AND (f.service_id IS NULL OR f.service_id = p_service)
    AND (f.doctor_id IS NULL OR f.doctor_id = p_doctor)
  ORDER BY f.service_id IS NULL, f.doctor_id IS NULL
  LIMIT 1
$$;

CREATE TABLE payments (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  clinic_id           bigint NOT NULL REFERENCES clinics (id) ON DELETE RESTRICT,
  visit_id            bigint NOT NULL CONSTRAINT payments_visit_id_key UNIQUE,
  doctor_id           bigint NOT NULL,
  patient_id          bigint NOT NULL,
  service_id          bigint NOT NULL,
  fee_rule_id         bigint, -- the rule that applied, a snapshot (the rule may be changed or deleted later)
  currency            text NOT NULL CONSTRAINT payments_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
  amount_cents        bigint NOT NULL CONSTRAINT payments_amount_cents_check CHECK (amount_cents BETWEEN 0 AND 100000000),
  doctor_share_bps    integer NOT NULL CONSTRAINT payments_doctor_share_bps_check CHECK (doctor_share_bps BETWEEN 0 AND 10000),
  doctor_share_cents  bigint NOT NULL,
  center_share_cents  bigint NOT NULL,
  refunded_cents      bigint NOT NULL DEFAULT 0,
  status              text NOT NULL DEFAULT 'pending' CONSTRAINT payments_status_check
                        CHECK (status IN ('pending', 'paid', 'partially_refunded', 'refunded')),
  method              text CONSTRAINT payments_method_check CHECK (method IN ('cash', 'card', 'pix', 'insurance', 'other')),
  paid_at             timestamptz,
  paid_by             bigint REFERENCES users (id) ON DELETE RESTRICT,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT payments_visit_owner_fkey FOREIGN KEY (visit_id, clinic_id, doctor_id, patient_id)
    REFERENCES visits (id, clinic_id, doctor_id, patient_id),
  CONSTRAINT payments_service_id_fkey FOREIGN KEY (service_id, clinic_id) REFERENCES services (id, clinic_id),
  -- The split is exact and follows the rounding rule; the snapshot never changes.
  CONSTRAINT payments_shares_check CHECK (
    doctor_share_cents = money_share(amount_cents, doctor_share_bps)
    AND doctor_share_cents + center_share_cents = amount_cents),
  -- Paid exactly when settled; refunds only of settled money, and their total follows the status.
  CONSTRAINT payments_status_check_times CHECK (
    (status = 'pending') = (paid_at IS NULL) AND (paid_at IS NULL) = (method IS NULL)
    AND refunded_cents BETWEEN 0 AND amount_cents
    AND (status <> 'pending' OR refunded_cents = 0)
    AND (status <> 'paid' OR refunded_cents = 0)
    AND (status <> 'partially_refunded' OR refunded_cents BETWEEN 1 AND amount_cents - 1)
    AND (status <> 'refunded' OR (refunded_cents = amount_cents AND amount_cents > 0)))
);
CREATE INDEX payments_doctor_idx ON payments (doctor_id, created_at, id);
CREATE INDEX payments_clinic_idx ON payments (clinic_id, created_at, id);
CREATE TRIGGER payments_touch BEFORE UPDATE ON payments FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- What a payment was billed at never changes; its state moves only forward.
CREATE FUNCTION payments_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.visit_id, NEW.clinic_id, NEW.doctor_id, NEW.patient_id, NEW.service_id, NEW.currency, NEW.amount_cents,
      NEW.doctor_share_bps, NEW.doctor_share_cents, NEW.center_share_cents, NEW.created_at)
     IS DISTINCT FROM
     (OLD.visit_id, OLD.clinic_id, OLD.doctor_id, OLD.patient_id, OLD.service_id, OLD.currency, OLD.amount_cents,
      OLD.doctor_share_bps, OLD.doctor_share_cents, OLD.center_share_cents, OLD.created_at) THEN
    RAISE EXCEPTION 'payment % keeps what it was billed at', OLD.id USING ERRCODE = 'object_not_in_prerequisite_state',
      HINT = 'A payment keeps the amount and the shares it was billed at.';
  END IF;
  IF NEW.status <> OLD.status AND NOT (OLD.status, NEW.status) IN (
       ('pending', 'paid'), ('paid', 'partially_refunded'), ('paid', 'refunded'),
       ('partially_refunded', 'refunded')) THEN
    RAISE EXCEPTION 'payment % cannot go from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('The payment is %s; it cannot become %s.', replace(OLD.status, '_', ' '),
                          replace(NEW.status, '_', ' '));
  END IF;
  IF NEW.refunded_cents < OLD.refunded_cents OR (OLD.paid_at IS NOT NULL AND NEW.paid_at IS DISTINCT FROM OLD.paid_at) THEN
    RAISE EXCEPTION 'payment % cannot take back a settlement or a refund', OLD.id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER payments_guard BEFORE UPDATE ON payments FOR EACH ROW EXECUTE FUNCTION payments_guard();
CREATE TRIGGER payments_no_delete BEFORE DELETE ON payments FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Refunds, append-only, each with its exact split (see the rounding rule above).
CREATE TABLE payment_refunds (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payment_id          bigint NOT NULL REFERENCES payments (id) ON DELETE RESTRICT,
  amount_cents        bigint NOT NULL CONSTRAINT payment_refunds_amount_cents_check CHECK (amount_cents > 0),
  doctor_share_cents  bigint NOT NULL CONSTRAINT payment_refunds_doctor_share_cents_check CHECK (doctor_share_cents >= 0),
  center_share_cents  bigint NOT NULL CONSTRAINT payment_refunds_center_share_cents_check CHECK (center_share_cents >= 0),
  reason              text NOT NULL CONSTRAINT payment_refunds_reason_check CHECK (char_length(reason) BETWEEN 1 AND 500),
  created_by          bigint REFERENCES users (id) ON DELETE RESTRICT,
  created_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT payment_refunds_split_check CHECK (doctor_share_cents + center_share_cents = amount_cents)
);
CREATE INDEX payment_refunds_payment_idx ON payment_refunds (payment_id, id);
CREATE TRIGGER payment_refunds_no_update BEFORE UPDATE OR DELETE ON payment_refunds
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payment_refunds_no_truncate BEFORE TRUNCATE ON payment_refunds
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE FUNCTION payment_refund_json(r payment_refunds) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('id', r.id, 'amount_cents', r.amount_cents, 'doctor_share_cents', r.doctor_share_cents,
                            'center_share_cents', r.center_share_cents, 'reason', r.reason,
                            'created_at', rfc3339(r.created_at))
$$;

CREATE FUNCTION payment_json(p payments) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', p.id, 'clinic_id', p.clinic_id, 'visit_id', p.visit_id, 'doctor_id', p.doctor_id,
    'patient_id', p.patient_id, 'service_id', p.service_id, 'currency', p.currency,
    'amount_cents', p.amount_cents, 'doctor_share_bps', p.doctor_share_bps,
    'doctor_share_cents', p.doctor_share_cents, 'center_share_cents', p.center_share_cents,
    'refunded_cents', p.refunded_cents, 'status', p.status, 'method', p.method, 'paid_at', rfc3339(p.paid_at),
    'created_at', rfc3339(p.created_at), 'updated_at', rfc3339(p.updated_at),
    'patient_name', (SELECT pt.full_name FROM patients pt WHERE pt.id = p.patient_id),
    'service_name', (SELECT s.name FROM services s WHERE s.id = p.service_id),
    'refunds', COALESCE((SELECT jsonb_agg(payment_refund_json(r) ORDER BY r.id)
                         FROM payment_refunds r WHERE r.payment_id = p.id), '[]'::jsonb))
$$;

-- A change of a payment is announced: in full to its doctor's room, and as ids and status to the
-- clinic's room (where other doctors are too: a doctor never sees another doctor's money).
CREATE FUNCTION payments_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.status = OLD.status AND NEW.refunded_cents = OLD.refunded_cents THEN
    RETURN NULL;
  END IF;
  INSERT INTO events (name, rooms, data)
  VALUES ('payment_processed', ARRAY['doctor:' || NEW.doctor_id], jsonb_build_object('payment', payment_json(NEW))),
         ('payment_processed', ARRAY['clinic:' || NEW.clinic_id],
          jsonb_build_object('payment', jsonb_build_object('id', NEW.id, 'visit_id', NEW.visit_id,
                                                           'doctor_id', NEW.doctor_id, 'status', NEW.status)));
  RETURN NULL;
END
$$;
CREATE TRIGGER payments_announce AFTER INSERT OR UPDATE ON payments
  FOR EACH ROW EXECUTE FUNCTION payments_announce();

-- Billing: a completed consultation with a service gets its payment, pending, at the price and the
-- share of the fee rule that applies (at most once per visit, whatever retries or races complete
-- it: the visit's row lock orders them and visit_id is unique). A visit without a service is not
-- billed. The payment is audited as the completer's.
CREATE FUNCTION visits_bill() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  f fee_rules;
  price bigint;
  bps integer;
  p payments;
BEGIN
  IF NEW.service_id IS NULL THEN
    RETURN NULL;
  END IF;
  f := fee_rule_for(NEW.clinic_id, NEW.service_id, NEW.doctor_id);
  SELECT COALESCE(f.price_cents, s.price_cents) INTO price FROM services s WHERE s.id = NEW.service_id;
  bps := COALESCE(f.doctor_share_bps, 0);
  INSERT INTO payments (clinic_id, visit_id, doctor_id, patient_id, service_id, fee_rule_id, currency, amount_cents,
                        doctor_share_bps, doctor_share_cents, center_share_cents)
  SELECT NEW.clinic_id, NEW.id, NEW.doctor_id, NEW.patient_id, NEW.service_id, f.id, c.currency, price, bps,
         money_share(price, bps), price - money_share(price, bps)
  FROM clinics c WHERE c.id = NEW.clinic_id
  ON CONFLICT (visit_id) DO NOTHING
  RETURNING * INTO p;
  IF FOUND THEN
    INSERT INTO audit_log (actor_user_id, actor_role, action, entity, entity_id, details)
    SELECT NEW.updated_by, (SELECT u.role FROM users u WHERE u.id = NEW.updated_by), 'payment_create', 'payment', p.id,
           jsonb_build_object('visit_id', NEW.id, 'amount_cents', p.amount_cents, 'fee_rule_id', p.fee_rule_id);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER visits_bill AFTER UPDATE OF status ON visits
  FOR EACH ROW WHEN (NEW.status = 'completed' AND OLD.status <> 'completed') EXECUTE FUNCTION visits_bill();

-- The desk records the settlement of a pending payment. A row of NULLs when out of reach.
CREATE FUNCTION payment_pay(p_id bigint, p_clinic bigint, p_method text, p_actor bigint) RETURNS payments
LANGUAGE plpgsql AS $$
DECLARE
  p payments;
BEGIN
  UPDATE payments SET status = state_transition(status, ARRAY['pending'], 'paid', 'payment'),
                      method = p_method, paid_at = now(), paid_by = p_actor
  WHERE id = p_id AND (p_clinic IS NULL OR clinic_id = p_clinic)
  RETURNING * INTO p;
  RETURN p;
END
$$;

-- A full or partial refund of settled money. A row of NULLs when out of reach.
CREATE FUNCTION payment_refund(p_id bigint, p_clinic bigint, p_amount bigint, p_reason text, p_actor bigint)
RETURNS payments
LANGUAGE plpgsql AS $$
DECLARE
  p payments;
  doctor_part bigint;
BEGIN
  SELECT * INTO p FROM payments WHERE id = p_id AND (p_clinic IS NULL OR clinic_id = p_clinic) FOR UPDATE;
  IF NOT FOUND THEN
    RETURN p;
  END IF;
  PERFORM state_transition(p.status, ARRAY['paid', 'partially_refunded'], 'refunded', 'payment');
  PERFORM assert_field(p_amount <= p.amount_cents - p.refunded_cents, 'payment_refunds', 'amount_cents',
                       format('exceeds what is left to refund (%s)', p.amount_cents - p.refunded_cents));
  doctor_part := money_share(p.refunded_cents + p_amount, p.doctor_share_bps)
                 - money_share(p.refunded_cents, p.doctor_share_bps);
  INSERT INTO payment_refunds (payment_id, amount_cents, doctor_share_cents, center_share_cents, reason, created_by)
  VALUES (p.id, p_amount, doctor_part, p_amount - doctor_part, p_reason, p_actor);
  UPDATE payments SET refunded_cents = refunded_cents + p_amount,
                      status = CASE WHEN refunded_cents + p_amount = amount_cents THEN 'refunded'
                                    ELSE 'partially_refunded' END
  WHERE id = p.id RETURNING * INTO p;
  RETURN p;
END
$$;

-- The first answer to a money request sent with an Idempotency-Key, per user and key: a retry with
-- the same key and the same request gets it again and changes nothing.
CREATE TABLE idempotency_keys (
  user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key           text NOT NULL CONSTRAINT idempotency_keys_key_check CHECK (key ~ '^[\x21-\x7e]{1,100}$'),
  request_hash  text NOT NULL CONSTRAINT idempotency_keys_request_hash_check CHECK (request_hash ~ '^[0-9a-f]{64}$'),
  http_status   integer,
  body          text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Earnings (the doctor's "My Earnings") ----------------------------------------------------------------------------

-- The payments of a doctor with the filters of the earnings report: local days p_from..p_to of the
-- clinic (either NULL: open), status, method. day is the local day the consultation was billed;
-- doctor_refunded_cents the doctor's part of what was refunded.
CREATE FUNCTION earnings_rows(p_doctor bigint, p_from date, p_to date, p_status text, p_method text)
RETURNS TABLE (id bigint, created_at timestamptz, day date, status text, method text, amount_cents bigint,
               doctor_share_cents bigint, doctor_refunded_cents bigint)
LANGUAGE sql STABLE AS $$
  SELECT p.id, p.created_at, (p.created_at AT TIME ZONE c.timezone)::date, p.status, p.method, p.amount_cents,
         p.doctor_share_cents, money_share(p.refunded_cents, p.doctor_share_bps)
  FROM payments p JOIN clinics c ON c.id = p.clinic_id
  WHERE p.doctor_id = p_doctor
    AND (p_from IS NULL OR p.created_at >= p_from::timestamp AT TIME ZONE c.timezone)
    AND (p_to IS NULL OR p.created_at < (p_to + 1)::timestamp AT TIME ZONE c.timezone)
    AND (p_status IS NULL OR p.status = p_status) AND (p_method IS NULL OR p.method = p_method)
$$;

-- Totals of the doctor's share over rows: earned (settled, net of refunds), pending, refunded.
CREATE FUNCTION earnings_totals(p_rows jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'count', count(*),
    'total_cents', COALESCE(sum((r->>'amount_cents')::bigint), 0),
    'paid_cents', COALESCE(sum((r->>'doctor_share_cents')::bigint - (r->>'doctor_refunded_cents')::bigint)
                           FILTER (WHERE r->>'status' <> 'pending'), 0),
    'pending_cents', COALESCE(sum((r->>'doctor_share_cents')::bigint) FILTER (WHERE r->>'status' = 'pending'), 0),
    'refunded_cents', COALESCE(sum((r->>'doctor_refunded_cents')::bigint), 0))
  FROM jsonb_array_elements(p_rows) r
$$;

-- The earnings report of p_doctor: a page of payments (after cursor p_cursor, p_limit of them), the
-- summary of every filtered payment plus this month's (in the clinic's zone, unfiltered), and the
-- groups of p_group ('day', 'status', 'method' or NULL). Amounts in the summary and groups are the
-- doctor's share unless named total.
CREATE FUNCTION doctor_earnings(p_doctor bigint, p_from date, p_to date, p_status text, p_method text, p_group text,
                                p_cursor jsonb, p_limit integer) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  WITH f AS (SELECT * FROM earnings_rows(p_doctor, p_from, p_to, p_status, p_method)),
  page AS (SELECT * FROM f
           WHERE p_cursor IS NULL OR (f.created_at, f.id) > ((p_cursor->>0)::timestamptz, (p_cursor->>1)::bigint)
           ORDER BY f.created_at, f.id LIMIT p_limit + 1),
  n AS (SELECT *, row_number() OVER (ORDER BY created_at, id) AS rn FROM page),
  c AS (SELECT cl.currency, cl.timezone FROM doctors d JOIN clinics cl ON cl.id = d.clinic_id WHERE d.id = p_doctor),
  month AS (SELECT * FROM earnings_rows(p_doctor, date_trunc('month', (now() AT TIME ZONE (SELECT timezone FROM c)))::date,
                                        NULL, NULL, NULL))
  SELECT jsonb_build_object(
    'items', COALESCE((SELECT jsonb_agg(payment_json(p) || jsonb_build_object('date', to_char(n.day, 'YYYY-MM-DD'),
                                                                              'doctor_refunded_cents', n.doctor_refunded_cents)
                                        ORDER BY n.rn)
                       FROM n JOIN payments p ON p.id = n.id WHERE n.rn <= p_limit), '[]'::jsonb),
    'next_cursor', (SELECT cursor_encode(jsonb_build_array(rfc3339_exact(n.created_at), n.id)) FROM n
                    WHERE n.rn = p_limit AND EXISTS (SELECT 1 FROM n WHERE rn > p_limit)),
    'summary', (SELECT earnings_totals(COALESCE(jsonb_agg(to_jsonb(f)), '[]')) FROM f)
               || jsonb_build_object('currency', (SELECT currency FROM c),
                                     'this_month', (SELECT earnings_totals(COALESCE(jsonb_agg(to_jsonb(month)), '[]'))
                                                    FROM month)),
    'groups', CASE WHEN p_group IS NULL THEN NULL ELSE COALESCE((
      SELECT jsonb_agg(earnings_totals(g.rows) || jsonb_build_object('key', g.key) ORDER BY g.key NULLS LAST)
      FROM (SELECT CASE p_group WHEN 'day' THEN to_char(f.day, 'YYYY-MM-DD') WHEN 'status' THEN f.status
                                ELSE f.method END AS key,
                   jsonb_agg(to_jsonb(f)) AS rows
            FROM f GROUP BY 1) g), '[]'::jsonb) END)
$$;

-- A CSV field: quoted, quotes doubled, and a leading = + - @ defused so a spreadsheet never reads
-- a patient's name as a formula.
CREATE FUNCTION csv_field(s text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT '"' || replace(CASE WHEN s ~ '^[=+@\t\r-]' THEN '''' || s ELSE COALESCE(s, '') END, '"', '""') || '"'
$$;

-- The same report as CSV (every filtered payment, oldest first), amounts in cents.
CREATE FUNCTION doctor_earnings_csv(p_doctor bigint, p_from date, p_to date, p_status text, p_method text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT 'date,payment_id,visit_id,patient,service,status,method,currency,amount_cents,doctor_share_cents,'
         'doctor_refunded_cents,paid_at' || E'\r\n'
         || COALESCE(string_agg(concat_ws(',', to_char(f.day, 'YYYY-MM-DD'), p.id, p.visit_id,
                                           csv_field((SELECT pt.full_name FROM patients pt WHERE pt.id = p.patient_id)),
                                           csv_field((SELECT s.name FROM services s WHERE s.id = p.service_id)),
                                           p.status, COALESCE(p.method, ''), p.currency, p.amount_cents,
                                           p.doctor_share_cents, f.doctor_refunded_cents, COALESCE(rfc3339(p.paid_at), ''))
                                 || E'\r\n', '' ORDER BY f.created_at, f.id), '')
  FROM earnings_rows(p_doctor, p_from, p_to, p_status, p_method) f JOIN payments p ON p.id = f.id
$$;

-- The admin's revenue over local days p_from..p_to of each clinic (all clinics, or p_clinic), per
-- currency, and grouped by p_group ('doctor', 'day' or 'clinic'). billed: everything billed;
-- collected: settled money net of refunds; pending: not settled yet; the doctors' and the centre's
-- shares of what was collected.
CREATE FUNCTION admin_revenue(p_from date, p_to date, p_group text, p_clinic bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  WITH r AS (
    SELECT p.currency, p.status, p.amount_cents, p.refunded_cents, p.doctor_share_cents,
           money_share(p.refunded_cents, p.doctor_share_bps) AS doctor_refunded,
           CASE p_group WHEN 'doctor' THEN p.doctor_id::text WHEN 'clinic' THEN p.clinic_id::text
                        ELSE to_char((p.created_at AT TIME ZONE c.timezone)::date, 'YYYY-MM-DD') END AS key,
           CASE p_group WHEN 'doctor' THEN (SELECT u.full_name FROM doctors d JOIN users u ON u.id = d.user_id
                                            WHERE d.id = p.doctor_id)
                        WHEN 'clinic' THEN c.name END AS label
    FROM payments p JOIN clinics c ON c.id = p.clinic_id
    WHERE (p_clinic IS NULL OR p.clinic_id = p_clinic)
      AND p.created_at >= p_from::timestamp AT TIME ZONE c.timezone
      AND p.created_at < (p_to + 1)::timestamp AT TIME ZONE c.timezone),
  t AS (
    SELECT key, label, currency, jsonb_build_object(
      'currency', currency, 'count', count(*), 'billed_cents', sum(amount_cents),
      'collected_cents', COALESCE(sum(amount_cents - refunded_cents) FILTER (WHERE status <> 'pending'), 0),
      'pending_cents', COALESCE(sum(amount_cents) FILTER (WHERE status = 'pending'), 0),
      'refunded_cents', sum(refunded_cents),
      'doctor_share_cents', COALESCE(sum(doctor_share_cents - doctor_refunded) FILTER (WHERE status <> 'pending'), 0),
      'center_share_cents', COALESCE(sum(amount_cents - refunded_cents - doctor_share_cents + doctor_refunded)
                                     FILTER (WHERE status <> 'pending'), 0)) AS totals
    FROM r GROUP BY GROUPING SETS ((key, label, currency), (currency)))
  SELECT jsonb_build_object(
    'from', to_char(p_from, 'YYYY-MM-DD'), 'to', to_char(p_to, 'YYYY-MM-DD'), 'group_by', p_group,
    'summary', COALESCE((SELECT jsonb_agg(t.totals ORDER BY t.currency) FROM t WHERE t.key IS NULL), '[]'::jsonb),
    'groups', COALESCE((SELECT jsonb_agg(t.totals || jsonb_build_object('key', t.key, 'label', t.label)
                                         ORDER BY CASE WHEN p_group = 'day' THEN t.key END, t.label, t.key, t.currency)
                        FROM t WHERE t.key IS NOT NULL), '[]'::jsonb))
$$;

-- A clinic's currency is fixed once it has billed: payments, earnings and closings add up amounts
-- of one currency.
CREATE FUNCTION clinics_keep_currency() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.currency <> OLD.currency AND EXISTS (SELECT 1 FROM payments p WHERE p.clinic_id = OLD.id) THEN
    RAISE EXCEPTION 'clinic % has payments in %', OLD.id, OLD.currency
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('The clinic has payments in %s: its currency cannot change.', OLD.currency);
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER clinics_keep_currency BEFORE UPDATE OF currency ON clinics
  FOR EACH ROW EXECUTE FUNCTION clinics_keep_currency();

-- A patient's history now shows how each consultation was paid.
CREATE OR REPLACE FUNCTION history_item_json(v visits) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'visit', visit_json(v),
    'service_name', (SELECT s.name FROM services s WHERE s.id = v.service_id),
    'appointment', (SELECT jsonb_build_object('id', a.id, 'start_time', rfc3339(lower(a.period)), 'status', a.status)
                    FROM appointments a WHERE a.id = v.appointment_id),
    'evolution', evolution_json(v.id),
    'payment_status', (SELECT p.status FROM payments p WHERE p.visit_id = v.id))
$$;
