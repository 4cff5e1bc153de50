-- Monthly closings (DESIGN §4): what a doctor is paid for a month, in the clinic's time zone.
--
-- A closing collects lines: each payment of the doctor settled (paid_at) before the end of the
-- month and in no closing yet, at its amount and the doctor's share (so a payment settled after its
-- month was closed rolls into the next closing); each refund not yet in a closing whose
-- payment is in a closing of this or an earlier month, as a negative line (so a refund after a
-- month was paid lands in the next closing, never in one of an earlier month opened late); and
-- the admin's adjustments. States: draft -> closed (totals and the doctor's PIX key frozen) ->
-- payment_confirmed (admin, with the transfer's reference) -> receipt_confirmed (the doctor);
-- payment_confirmed -> disputed (the doctor, with a reason) -> closed again after the admin's
-- correction. Every step is an append-only trail row, announced to the doctor's room as
-- closing_updated.

CREATE TABLE closings (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  clinic_id             bigint NOT NULL REFERENCES clinics (id) ON DELETE RESTRICT,
  doctor_id             bigint NOT NULL,
  month                 date NOT NULL CONSTRAINT closings_month_check CHECK (extract(day FROM month) = 1),
  status                text NOT NULL DEFAULT 'draft' CONSTRAINT closings_status_check
                          CHECK (status IN ('draft', 'closed', 'payment_confirmed', 'receipt_confirmed', 'disputed')),
  currency              text NOT NULL,
  gross_cents           bigint NOT NULL DEFAULT 0,
  net_cents             bigint NOT NULL DEFAULT 0,
  consultation_count    integer NOT NULL DEFAULT 0,
  pix_key_type          text,
  pix_key               text,
  payment_reference     text CONSTRAINT closings_payment_reference_check CHECK (char_length(payment_reference) BETWEEN 1 AND 200),
  dispute_reason        text CONSTRAINT closings_dispute_reason_check CHECK (char_length(dispute_reason) BETWEEN 1 AND 1000),
  created_by            bigint REFERENCES users (id) ON DELETE RESTRICT,
  created_at            timestamptz NOT NULL DEFAULT now(),
  closed_at             timestamptz,
  payment_confirmed_at  timestamptz,
  receipt_confirmed_at  timestamptz,
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT closings_doctor_id_fkey FOREIGN KEY (doctor_id, clinic_id) REFERENCES doctors (id, clinic_id),
  CONSTRAINT closings_doctor_month_key UNIQUE (doctor_id, month),
  CONSTRAINT closings_state_check CHECK (
    (status = 'draft') = (closed_at IS NULL)
    AND (payment_reference IS NOT NULL) = (status IN ('payment_confirmed', 'receipt_confirmed', 'disputed'))
    AND (receipt_confirmed_at IS NOT NULL) = (status = 'receipt_confirmed')
    AND (status <> 'disputed' OR dispute_reason IS NOT NULL))
);
CREATE INDEX closings_clinic_month_idx ON closings (clinic_id, month);
CREATE TRIGGER closings_touch BEFORE UPDATE ON closings FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE FUNCTION closings_guard_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status <> OLD.status AND NOT (OLD.status, NEW.status) IN (
       ('draft', 'closed'), ('closed', 'payment_confirmed'), ('payment_confirmed', 'receipt_confirmed'),
       ('payment_confirmed', 'disputed'), ('disputed', 'closed')) THEN
    RAISE EXCEPTION 'closing % cannot go from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('The closing is %s; it cannot become %s.', replace(OLD.status, '_', ' '),
                          replace(NEW.status, '_', ' '));
  END IF;
  -- Frozen once closed: the totals and the key change only when a dispute is corrected and closed again.
  IF OLD.status NOT IN ('draft', 'disputed')
     AND (NEW.gross_cents, NEW.net_cents, NEW.consultation_count, NEW.pix_key_type, NEW.pix_key)
         IS DISTINCT FROM (OLD.gross_cents, OLD.net_cents, OLD.consultation_count, OLD.pix_key_type, OLD.pix_key) THEN
    RAISE EXCEPTION 'closing % is frozen', OLD.id USING ERRCODE = 'object_not_in_prerequisite_state',
      HINT = 'The closing is closed: its totals are frozen.';
  END IF;
  IF (NEW.doctor_id, NEW.clinic_id, NEW.month) IS DISTINCT FROM (OLD.doctor_id, OLD.clinic_id, OLD.month) THEN
    RAISE EXCEPTION 'a closing keeps its doctor and month' USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER closings_transition BEFORE UPDATE ON closings FOR EACH ROW EXECUTE FUNCTION closings_guard_transition();
CREATE TRIGGER closings_no_delete BEFORE DELETE ON closings FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE closing_lines (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  closing_id    bigint NOT NULL REFERENCES closings (id) ON DELETE RESTRICT,
  kind          text NOT NULL CONSTRAINT closing_lines_kind_check CHECK (kind IN ('payment', 'refund', 'adjustment')),
  payment_id    bigint REFERENCES payments (id) ON DELETE RESTRICT,
  refund_id     bigint REFERENCES payment_refunds (id) ON DELETE RESTRICT,
  amount_cents  bigint NOT NULL,
  doctor_cents  bigint NOT NULL,
  description   text NOT NULL CONSTRAINT closing_lines_description_check CHECK (char_length(description) BETWEEN 1 AND 500),
  occurred_at   timestamptz NOT NULL,
  created_by    bigint REFERENCES users (id) ON DELETE RESTRICT,
  created_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT closing_lines_refs_check CHECK (
    CASE kind WHEN 'payment' THEN payment_id IS NOT NULL AND refund_id IS NULL AND amount_cents >= 0 AND doctor_cents >= 0
              WHEN 'refund' THEN payment_id IS NOT NULL AND refund_id IS NOT NULL AND amount_cents < 0 AND doctor_cents <= 0
              ELSE payment_id IS NULL AND refund_id IS NULL AND amount_cents = 0 END)
);
-- A payment is paid once, a refund taken back once.
CREATE UNIQUE INDEX closing_lines_payment_key ON closing_lines (payment_id) WHERE kind = 'payment';
CREATE UNIQUE INDEX closing_lines_refund_key ON closing_lines (refund_id) WHERE kind = 'refund';
CREATE INDEX closing_lines_closing_idx ON closing_lines (closing_id, id);
CREATE TRIGGER closing_lines_no_update BEFORE UPDATE OR DELETE ON closing_lines FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Lines are added only while the closing is a draft or disputed (being corrected).
CREATE FUNCTION closing_lines_need_open() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM assert_state(EXISTS (SELECT 1 FROM closings c WHERE c.id = NEW.closing_id AND c.status IN ('draft', 'disputed')),
                       'The closing is closed: lines are added only to a draft or while a dispute is corrected.');
  RETURN NEW;
END
$$;
CREATE TRIGGER closing_lines_open BEFORE INSERT ON closing_lines FOR EACH ROW EXECUTE FUNCTION closing_lines_need_open();

-- The append-only trail of a closing.
CREATE TABLE closing_trail (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  closing_id     bigint NOT NULL REFERENCES closings (id) ON DELETE RESTRICT,
  action         text NOT NULL,
  from_status    text,
  to_status      text NOT NULL,
  actor_user_id  bigint REFERENCES users (id) ON DELETE RESTRICT,
  actor_role     text,
  note           text,
  at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX closing_trail_closing_idx ON closing_trail (closing_id, id);
CREATE TRIGGER closing_trail_no_update BEFORE UPDATE OR DELETE ON closing_trail FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER closing_trail_no_truncate BEFORE TRUNCATE ON closing_trail FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE FUNCTION closing_line_json(l closing_lines) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', l.id, 'kind', l.kind, 'payment_id', l.payment_id, 'refund_id', l.refund_id,
                            'amount_cents', l.amount_cents, 'doctor_cents', l.doctor_cents,
                            'description', l.description, 'occurred_at', rfc3339(l.occurred_at),
                            'visit_id', (SELECT p.visit_id FROM payments p WHERE p.id = l.payment_id),
                            'patient_name', (SELECT pt.full_name FROM payments p JOIN patients pt ON pt.id = p.patient_id
                                             WHERE p.id = l.payment_id))
$$;

CREATE FUNCTION closing_trail_json(t closing_trail) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('id', t.id, 'action', t.action, 'from_status', t.from_status, 'to_status', t.to_status,
                            'actor_user_id', t.actor_user_id, 'actor_role', t.actor_role, 'note', t.note,
                            'at', rfc3339(t.at))
$$;

-- A closing as its readers see it; p_full adds the lines and the trail, p_reveal the PIX key in full
-- (the payout export only: elsewhere it is masked).
CREATE FUNCTION closing_json(c closings, p_full boolean DEFAULT true, p_reveal boolean DEFAULT false) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', c.id, 'clinic_id', c.clinic_id, 'doctor_id', c.doctor_id,
    'doctor_name', (SELECT u.full_name FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = c.doctor_id),
    'month', to_char(c.month, 'YYYY-MM'), 'status', c.status, 'currency', c.currency,
    'gross_cents', c.gross_cents, 'net_cents', c.net_cents, 'consultation_count', c.consultation_count,
    'pix_key_type', c.pix_key_type, 'pix_key', CASE WHEN p_reveal THEN c.pix_key ELSE mask_secret(c.pix_key) END,
    'payment_reference', c.payment_reference, 'dispute_reason', c.dispute_reason,
    'created_at', rfc3339(c.created_at), 'closed_at', rfc3339(c.closed_at),
    'payment_confirmed_at', rfc3339(c.payment_confirmed_at), 'receipt_confirmed_at', rfc3339(c.receipt_confirmed_at),
    'updated_at', rfc3339(c.updated_at))
  || CASE WHEN p_full THEN jsonb_build_object(
       'lines', COALESCE((SELECT jsonb_agg(closing_line_json(l) ORDER BY l.occurred_at, l.id)
                          FROM closing_lines l WHERE l.closing_id = c.id), '[]'::jsonb),
       'trail', COALESCE((SELECT jsonb_agg(closing_trail_json(t) ORDER BY t.id)
                          FROM closing_trail t WHERE t.closing_id = c.id), '[]'::jsonb))
     ELSE '{}'::jsonb END
$$;

-- Adds to closing c every line now due (see the header) and recomputes its totals from its lines.
CREATE FUNCTION closing_collect(c closings) RETURNS closings
LANGUAGE plpgsql AS $$
DECLARE
  tz text := (SELECT k.timezone FROM clinics k WHERE k.id = c.clinic_id);
BEGIN
  -- One collection per doctor at a time (two closings of the doctor never race for a line).
  PERFORM 1 FROM doctors d WHERE d.id = c.doctor_id FOR NO KEY UPDATE;
  INSERT INTO closing_lines (closing_id, kind, payment_id, amount_cents, doctor_cents, description, occurred_at)
  SELECT c.id, 'payment', p.id, p.amount_cents, p.doctor_share_cents,
         format('%s: %s', (SELECT s.name FROM services s WHERE s.id = p.service_id),
                (SELECT pt.full_name FROM patients pt WHERE pt.id = p.patient_id)),
         p.paid_at
  FROM payments p
  WHERE p.doctor_id = c.doctor_id AND p.paid_at IS NOT NULL
    AND p.paid_at < (c.month + interval '1 month')::timestamp AT TIME ZONE tz
    AND NOT EXISTS (SELECT 1 FROM closing_lines l WHERE l.payment_id = p.id AND l.kind = 'payment')
  ORDER BY p.paid_at, p.id
  ON CONFLICT (payment_id) WHERE kind = 'payment' DO NOTHING;
  INSERT INTO closing_lines (closing_id, kind, payment_id, refund_id, amount_cents, doctor_cents, description, occurred_at)
  SELECT c.id, 'refund', r.payment_id, r.id, -r.amount_cents, -r.doctor_share_cents, format('Refund: %s', left(r.reason, 480)),
         r.created_at
  FROM payment_refunds r JOIN payments p ON p.id = r.payment_id
  WHERE p.doctor_id = c.doctor_id
    AND EXISTS (SELECT 1 FROM closing_lines l JOIN closings o ON o.id = l.closing_id
                WHERE l.payment_id = p.id AND l.kind = 'payment' AND o.month <= c.month)
    AND NOT EXISTS (SELECT 1 FROM closing_lines l WHERE l.refund_id = r.id AND l.kind = 'refund')
  ORDER BY r.id
  ON CONFLICT (refund_id) WHERE kind = 'refund' DO NOTHING;
  UPDATE closings SET
    gross_cents = (SELECT COALESCE(sum(l.amount_cents), 0) FROM closing_lines l WHERE l.closing_id = c.id),
    net_cents = (SELECT COALESCE(sum(l.doctor_cents), 0) FROM closing_lines l WHERE l.closing_id = c.id),
    consultation_count = (SELECT count(*) FROM closing_lines l WHERE l.closing_id = c.id AND l.kind = 'payment')
  WHERE id = c.id RETURNING * INTO c;
  RETURN c;
END
$$;

-- Writes a step of closing c to its trail and announces it.
CREATE FUNCTION closing_step(c closings, p_action text, p_from text, p_actor bigint, p_note text) RETURNS closings
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO closing_trail (closing_id, action, from_status, to_status, actor_user_id, actor_role, note)
  VALUES (c.id, p_action, p_from, c.status, p_actor, (SELECT u.role FROM users u WHERE u.id = p_actor), p_note);
  INSERT INTO events (name, rooms, data)
  VALUES ('closing_updated', ARRAY['doctor:' || c.doctor_id],
          jsonb_build_object('closing', closing_json(c, false), 'action', p_action));
  RETURN c;
END
$$;

-- The admin opens the closing of p_doctor for p_month (its first day), collecting its lines.
CREATE FUNCTION closing_create(p_doctor bigint, p_month date, p_actor bigint) RETURNS closings
LANGUAGE plpgsql AS $$
DECLARE
  c closings;
BEGIN
  -- The doctor's row lock orders this against a batch for the clinic and other collections.
  PERFORM assert_field(EXISTS (SELECT 1 FROM doctors d WHERE d.id = p_doctor FOR NO KEY UPDATE),
                       'closings', 'doctor_id', 'does not exist');
  -- The month must have begun in the clinic's zone.
  PERFORM assert_field(p_month <= (SELECT clinic_day(d.clinic_id, now()) FROM doctors d WHERE d.id = p_doctor),
                       'closings', 'month', 'has not begun yet');
  INSERT INTO closings (clinic_id, doctor_id, month, currency, created_by)
  SELECT d.clinic_id, d.id, p_month, k.currency, p_actor FROM doctors d JOIN clinics k ON k.id = d.clinic_id
  WHERE d.id = p_doctor
  RETURNING * INTO c;
  c := closing_collect(c);
  RETURN closing_step(c, 'create', NULL, p_actor, NULL);
END
$$;

-- A step by the admin or the doctor: the transition guard decides what may follow what; the caller
-- has checked the role. A row of NULLs when out of reach (p_doctor: the doctor's own only).
CREATE FUNCTION closing_advance(p_id bigint, p_doctor bigint, p_action text, p_note text, p_actor bigint)
RETURNS closings
LANGUAGE plpgsql AS $$
DECLARE
  c closings;
  was text;
BEGIN
  SELECT * INTO c FROM closings WHERE id = p_id AND (p_doctor IS NULL OR doctor_id = p_doctor) FOR UPDATE;
  IF NOT FOUND THEN
    RETURN c;
  END IF;
  was := c.status;
  IF p_action = 'close' THEN
    PERFORM state_transition(c.status, ARRAY['draft', 'disputed'], 'closed', 'closing');
    c := closing_collect(c);
    UPDATE closings SET status = 'closed', closed_at = COALESCE(closed_at, now()), payment_reference = NULL,
                        pix_key_type = d.pix_key_type, pix_key = d.pix_key
    FROM doctors d WHERE closings.id = c.id AND d.id = c.doctor_id RETURNING closings.* INTO c;
  ELSIF p_action = 'confirm_payment' THEN
    UPDATE closings SET status = state_transition(status, ARRAY['closed'], 'payment_confirmed', 'closing'),
                        payment_reference = p_note, payment_confirmed_at = now(), dispute_reason = NULL
    WHERE id = c.id RETURNING * INTO c;
  ELSIF p_action = 'confirm_receipt' THEN
    UPDATE closings SET status = state_transition(status, ARRAY['payment_confirmed'], 'receipt_confirmed', 'closing'),
                        receipt_confirmed_at = now()
    WHERE id = c.id RETURNING * INTO c;
  ELSIF p_action = 'dispute' THEN
    UPDATE closings SET status = state_transition(status, ARRAY['payment_confirmed'], 'disputed', 'closing'),
                        dispute_reason = p_note
    WHERE id = c.id RETURNING * INTO c;
  ELSE
    RAISE EXCEPTION 'unknown closing action %', p_action;
  END IF;
  RETURN closing_step(c, p_action, was, p_actor, p_note);
END
$$;

-- The admin's correction of a draft or disputed closing: a line of p_cents for the doctor.
CREATE FUNCTION closing_adjust(p_id bigint, p_cents bigint, p_reason text, p_actor bigint) RETURNS closings
LANGUAGE plpgsql AS $$
DECLARE
  c closings;
BEGIN
  SELECT * INTO c FROM closings WHERE id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN c;
  END IF;
  PERFORM assert_state(c.status IN ('draft', 'disputed'),
                       format('The closing is %s: it is corrected only as a draft or while disputed.', replace(c.status, '_', ' ')));
  INSERT INTO closing_lines (closing_id, kind, amount_cents, doctor_cents, description, occurred_at, created_by)
  VALUES (c.id, 'adjustment', 0, p_cents, p_reason, now(), p_actor);
  UPDATE closings SET net_cents = (SELECT COALESCE(sum(l.doctor_cents), 0) FROM closing_lines l WHERE l.closing_id = c.id)
  WHERE id = c.id RETURNING * INTO c;
  RETURN closing_step(c, 'adjust', c.status, p_actor, p_reason);
END
$$;

-- The admin closes p_month for every doctor of p_clinic who has no closing for it yet. Returns
-- {"items": [closings], "skipped": [{"doctor_id", "closing_id"}]}.
CREATE FUNCTION closing_create_all(p_clinic bigint, p_month date, p_actor bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  d record;
  existing bigint;
  made jsonb := '[]'::jsonb;
  skipped jsonb := '[]'::jsonb;
  c closings;
BEGIN
  PERFORM assert_field(EXISTS (SELECT 1 FROM clinics k WHERE k.id = p_clinic), 'closings', 'clinic_id', 'does not exist');
  PERFORM assert_field(p_month <= clinic_day(p_clinic, now()), 'closings', 'month', 'has not begun yet');
  FOR d IN SELECT x.id FROM doctors x WHERE x.clinic_id = p_clinic ORDER BY x.id FOR NO KEY UPDATE OF x LOOP
    -- Read after the doctor's lock: a closing made meanwhile by a single create is seen here.
    SELECT o.id INTO existing FROM closings o WHERE o.doctor_id = d.id AND o.month = p_month;
    IF existing IS NOT NULL THEN
      skipped := skipped || jsonb_build_object('doctor_id', d.id, 'closing_id', existing);
    ELSE
      c := closing_create(d.id, p_month, p_actor);
      made := made || closing_json(c, false);
    END IF;
  END LOOP;
  RETURN jsonb_build_object('items', made, 'skipped', skipped);
END
$$;
