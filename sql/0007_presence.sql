-- Who is connected to the signaling servers, shared by every instance: one row per authenticated
-- WebSocket connection with the rooms of its token, written by the instance that holds it and
-- announced on the "presence" channel when a user's first connection arrives or their last leaves. An instance that stops heart-beating loses its rows (the
-- others clean them up and announce the departures).

CREATE TABLE signaling_instances (
  id         text PRIMARY KEY CONSTRAINT signaling_instances_id_check CHECK (id ~ '^[0-9a-f]{32}$'),
  last_seen  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE presence (
  instance_id   text NOT NULL,
  sid           text NOT NULL CONSTRAINT presence_sid_check CHECK (sid ~ '^[0-9a-f]{32}$'),
  user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role          text NOT NULL,
  display_name  text NOT NULL,
  rooms         text[] NOT NULL,
  connected_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (instance_id, sid)
);
CREATE INDEX presence_rooms_idx ON presence USING gin (rooms);
CREATE INDEX presence_user_idx ON presence (user_id);

-- The announcement of a presence change (payloads stay far below NOTIFY's 8000 bytes: names are
-- at most 200 characters and a connection has at most two rooms).
CREATE FUNCTION presence_announce(p presence, what text) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_notify('presence', json_build_object(
    'event', what, 'instance', p.instance_id, 'sid', p.sid, 'user_id', p.user_id, 'role', p.role,
    'display_name', p.display_name, 'rooms', p.rooms)::text)
$$;

-- Rows of instances silent for more than p_seconds are removed, each departure announced.
CREATE FUNCTION presence_expire(p_seconds integer) RETURNS integer
LANGUAGE sql AS $$
  WITH gone AS (
    DELETE FROM presence p
    WHERE NOT EXISTS (SELECT 1 FROM signaling_instances i
                      WHERE i.id = p.instance_id AND i.last_seen > now() - make_interval(secs => p_seconds))
    RETURNING p
  ),
  -- A departure is announced once per user, and only when none of their connections remains.
  said AS (SELECT presence_announce(g.p, 'left')
           FROM (SELECT DISTINCT ON ((g.p).user_id) g.p FROM gone g) g
           WHERE NOT EXISTS (SELECT 1 FROM presence r JOIN signaling_instances i ON i.id = r.instance_id
                             WHERE r.user_id = (g.p).user_id
                               AND i.last_seen > now() - make_interval(secs => p_seconds))),
  old AS (DELETE FROM signaling_instances i WHERE i.last_seen < now() - make_interval(secs => p_seconds * 10))
  SELECT count(*)::integer FROM said
$$;
