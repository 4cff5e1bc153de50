-- Webhooks for integrators (docs/ARCHITECTURE.md "Webhooks", DESIGN §10): an admin's subscription
-- (url, event names, optional clinic) turns each matching outbox event into a 'webhook' delivery row,
-- written by a trigger on events in the transaction of the event itself, carrying the §5 envelope
-- as the exact text the sender POSTs and signs. The signing secret is kept here (the sender must
-- sign with it, so it cannot be only hashed); webhook_json never shows it, nor does the audit.
--
-- Rotation: webhook_rotate_secret keeps the old secret as previous_secret until
-- previous_expires_at; meanwhile the sender signs with both. Failures: webhook_outcome keeps the
-- time of the first failure since the last success; past the caller's window the subscription is
-- disabled, audited, and each active admin with an e-mail address gets a notice in the queue.

CREATE TABLE webhook_subscriptions (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  url                  text NOT NULL CONSTRAINT webhook_subscriptions_url_check
                         CHECK (char_length(url) BETWEEN 8 AND 2000 AND url ~ '^https?://'),
  events               text[] NOT NULL CONSTRAINT webhook_subscriptions_events_check
                         CHECK (cardinality(events) BETWEEN 1 AND 64),
  clinic_id            bigint REFERENCES clinics (id) ON DELETE CASCADE,
  secret               text NOT NULL CONSTRAINT webhook_subscriptions_secret_check CHECK (char_length(secret) >= 32),
  previous_secret      text,
  previous_expires_at  timestamptz,
  active               boolean NOT NULL DEFAULT true,
  failing_since        timestamptz,
  disabled_at          timestamptz,
  disabled_reason      text,
  created_by           bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webhook_subscriptions_previous_check CHECK ((previous_secret IS NULL) = (previous_expires_at IS NULL))
);
CREATE INDEX webhook_subscriptions_active_idx ON webhook_subscriptions USING gin (events) WHERE active;
CREATE TRIGGER webhook_subscriptions_touch BEFORE UPDATE ON webhook_subscriptions
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- What the API shows of a subscription: never a secret.
CREATE FUNCTION webhook_json(w webhook_subscriptions) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', w.id, 'url', w.url, 'events', to_jsonb(w.events), 'clinic_id', w.clinic_id, 'active', w.active,
    'failing_since', rfc3339(w.failing_since), 'disabled_at', rfc3339(w.disabled_at),
    'disabled_reason', w.disabled_reason,
    'previous_secret_expires_at', CASE WHEN w.previous_expires_at > now() THEN rfc3339(w.previous_expires_at) END,
    'created_at', rfc3339(w.created_at), 'updated_at', rfc3339(w.updated_at))
$$;

-- Each event becomes one delivery per active subscription that names it (and, when the
-- subscription has a clinic, whose rooms include that clinic). payload.body is the envelope as
-- the exact text sent; payload.subscription_id says whose secret signs it.
CREATE FUNCTION events_to_webhooks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO deliveries (channel, kind, recipient, payload, clinic_id, entity, entity_id)
  SELECT 'webhook', NEW.name, w.url,
         jsonb_build_object('subscription_id', w.id, 'event', NEW.name, 'body', event_json(NEW)::text),
         w.clinic_id, 'webhook', w.id
  FROM webhook_subscriptions w
  WHERE w.active AND NEW.name = ANY (w.events)
    AND (w.clinic_id IS NULL OR ('clinic:' || w.clinic_id) = ANY (NEW.rooms));
  RETURN NULL;
END
$$;
CREATE TRIGGER events_to_webhooks AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION events_to_webhooks();

-- What a sender needs to sign and send delivery d: {"active": bool, "secrets": [current, previous
-- while in its window]}; NULL for other channels or a deleted subscription.
CREATE FUNCTION webhook_signing(d deliveries) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('active', w.active, 'secrets',
           CASE WHEN w.previous_expires_at > now() THEN jsonb_build_array(w.secret, w.previous_secret)
                ELSE jsonb_build_array(w.secret) END)
  FROM webhook_subscriptions w
  WHERE d.channel = 'webhook' AND w.id = d.entity_id
$$;

-- A new secret for subscription p_id; the old one stays valid for p_overlap_seconds. Returns the
-- row (the caller shows the new secret once).
CREATE FUNCTION webhook_rotate_secret(p_id bigint, p_secret text, p_overlap_seconds integer)
RETURNS webhook_subscriptions
LANGUAGE sql AS $$
  UPDATE webhook_subscriptions w SET
    previous_secret = CASE WHEN p_overlap_seconds > 0 THEN w.secret END,
    previous_expires_at = CASE WHEN p_overlap_seconds > 0 THEN now() + make_interval(secs => p_overlap_seconds) END,
    secret = p_secret
  WHERE w.id = p_id
  RETURNING w.*
$$;

-- The outcome of one attempt at webhook delivery p_delivery (p_ok: a 2xx). A success clears the
-- failure clock; a failure starts it, and once it has run p_window_seconds the subscription is
-- disabled (its waiting rows are then dropped by the sender as failed), audited, and the admins
-- told by e-mail through the queue. Returns true when this call disabled it.
CREATE FUNCTION webhook_outcome(p_delivery bigint, p_ok boolean, p_window_seconds integer) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  w webhook_subscriptions;
BEGIN
  UPDATE webhook_subscriptions s SET failing_since = CASE WHEN p_ok THEN NULL ELSE COALESCE(s.failing_since, now()) END
  FROM deliveries d
  WHERE d.id = p_delivery AND d.channel = 'webhook' AND s.id = d.entity_id
  RETURNING s.* INTO w;
  IF p_ok OR w.id IS NULL OR NOT w.active OR w.failing_since > now() - make_interval(secs => p_window_seconds) THEN
    RETURN false;
  END IF;
  UPDATE webhook_subscriptions s SET active = false, disabled_at = now(),
    disabled_reason = 'failing since ' || rfc3339(w.failing_since)
  WHERE s.id = w.id;
  INSERT INTO audit_log (action, entity, entity_id, details)
  VALUES ('webhook_disable', 'webhook', w.id,
          jsonb_build_object('url', w.url, 'failing_since', rfc3339(w.failing_since), 'window_seconds', p_window_seconds));
  INSERT INTO deliveries (channel, kind, recipient, payload, clinic_id, entity, entity_id)
  SELECT 'email', 'webhook_disabled', u.email,
         jsonb_build_object('to_name', u.full_name,
           'subject', 'Webhook ' || w.id || ' disabled after failing since ' || rfc3339(w.failing_since),
           'text', 'The webhook subscription ' || w.id || ' (' || w.url || ') has failed every delivery since '
                   || rfc3339(w.failing_since) || ' and was disabled. Fix the receiver, then re-enable it with '
                   || 'PATCH /api/webhooks/' || w.id || ' {"active": true}.' || E'\n',
           'html', '<p>The webhook subscription ' || w.id || ' (' || html_escape(w.url) || ') has failed every delivery since '
                   || rfc3339(w.failing_since) || ' and was disabled.</p><p>Fix the receiver, then re-enable it with '
                   || '<code>PATCH /api/webhooks/' || w.id || ' {"active": true}</code>.</p>'),
         w.clinic_id, 'webhook', w.id
  FROM users u WHERE u.role = 'ADMIN' AND u.active;
  RETURN true;
END
$$;
