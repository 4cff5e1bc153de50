-- Conversations (DESIGN §9, docs/ARCHITECTURE.md §17): the chat between a patient and their clinic,
-- optionally tied to one doctor and to an appointment or a video session (the in-call chat).
--
-- Members are decided here, from the caller's token claims, by conversation_member: the patient,
-- the clinic's receptionists, and the conversation's doctor (every doctor of the clinic when it
-- names none). An admin reaches every conversation to read it (conversation_reach) but is no member:
-- it neither writes nor has read receipts. Whatever is out of reach is simply not found (CL002).
--
-- Messages are a clinical record: an edit or a delete (the sender's own, within the edit window)
-- keeps the text it replaces as a row of conversation_message_revisions; a deleted message keeps
-- its row with text NULL and deleted_at set. A send with a client_id is stored once per
-- (conversation, sender, client_id): a retry answers the stored message.
--
-- Events (the outbox, §3) go to conversation_rooms(c): the room `conversation:{id}` naming the
-- audience, and the standing rooms through which the members' sockets receive it without joining
-- anything per conversation: `patient:{id}`, `desk:{clinic}` (the receptionists) and `doctor:{id}`
-- (or `clinic:{id}` when no doctor is named: receptionists and every doctor), plus `video:{id}` for
-- the in-call chat. Names: conversation_created, chat_message (a new message), chat_message_updated
-- (edited or deleted), message_read. A new message is announced by the trigger
-- conversation_messages_announce (AFTER INSERT): a later consumer of "a new message" hooks the same
-- table or calls conversation_send.
--
-- Refusals: CL002 (not found), 23514 (a field), 55000 (a state: a deleted message, the edit window
-- passed), CL004 (a limit: 429 with Retry-After = DETAIL seconds), CL005 (not the caller's to do: 403).
--
-- Triggers added here:
--   conversation_messages_announce  AFTER INSERT ON conversation_messages   chat_message event, last_message_at
--   conversation_messages_revise    AFTER UPDATE ON conversation_messages   chat_message_updated event
--   video_sessions_conversation     AFTER INSERT ON video_sessions          the session's conversation

CREATE TABLE conversations (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  clinic_id         bigint NOT NULL REFERENCES clinics (id) ON DELETE RESTRICT,
  patient_id        bigint NOT NULL,
  doctor_id         bigint,
  appointment_id    bigint,
  video_session_id  bigint REFERENCES video_sessions (id) ON DELETE RESTRICT
                      CONSTRAINT conversations_video_session_id_key UNIQUE,
  subject           text CONSTRAINT conversations_subject_check CHECK (char_length(subject) BETWEEN 1 AND 200),
  created_by        bigint REFERENCES users (id) ON DELETE RESTRICT,
  created_at        timestamptz NOT NULL DEFAULT now(),
  last_message_at   timestamptz,
  CONSTRAINT conversations_patient_id_fkey FOREIGN KEY (patient_id, clinic_id) REFERENCES patients (id, clinic_id),
  CONSTRAINT conversations_doctor_id_fkey FOREIGN KEY (doctor_id, clinic_id) REFERENCES doctors (id, clinic_id),
  CONSTRAINT conversations_appointment_id_fkey FOREIGN KEY (appointment_id, clinic_id)
    REFERENCES appointments (id, clinic_id)
);
CREATE INDEX conversations_clinic_idx ON conversations (clinic_id, id);
CREATE INDEX conversations_patient_idx ON conversations (patient_id, id);
CREATE INDEX conversations_created_by_idx ON conversations (created_by, created_at);
COMMENT ON TABLE conversations IS 'Triggers writing here: video_sessions_conversation (a video session''s in-call chat); '
  'conversation_messages_announce sets last_message_at.';

CREATE TABLE conversation_messages (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  conversation_id  bigint NOT NULL REFERENCES conversations (id) ON DELETE RESTRICT,
  sender_user_id   bigint NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  sender_role      text NOT NULL CONSTRAINT conversation_messages_sender_role_check
                     CHECK (sender_role IN ('RECEPTIONIST', 'DOCTOR', 'PATIENT')),
  text             text CONSTRAINT conversation_messages_text_check
                     CHECK (char_length(text) BETWEEN 1 AND 4000),
  client_id        text CONSTRAINT conversation_messages_client_id_check CHECK (char_length(client_id) BETWEEN 1 AND 100),
  created_at       timestamptz NOT NULL DEFAULT now(),
  edited_at        timestamptz,
  deleted_at       timestamptz,
  CONSTRAINT conversation_messages_client_id_key UNIQUE (conversation_id, sender_user_id, client_id),
  CONSTRAINT conversation_messages_deleted_check CHECK ((deleted_at IS NULL) = (text IS NOT NULL))
);
CREATE INDEX conversation_messages_conversation_idx ON conversation_messages (conversation_id, id);
CREATE INDEX conversation_messages_sender_idx ON conversation_messages (sender_user_id, created_at);
COMMENT ON TABLE conversation_messages IS 'Triggers: conversation_messages_announce (AFTER INSERT: chat_message event, '
  'conversations.last_message_at), conversation_messages_revise (AFTER UPDATE: chat_message_updated event).';

-- The text a message had before each edit or its deletion.
CREATE TABLE conversation_message_revisions (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id  bigint NOT NULL REFERENCES conversation_messages (id) ON DELETE RESTRICT,
  kind        text NOT NULL CONSTRAINT conversation_message_revisions_kind_check CHECK (kind IN ('edit', 'delete')),
  text        text NOT NULL,
  revised_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversation_message_revisions_message_idx ON conversation_message_revisions (message_id, id);

-- Each member's read receipt: the newest message they have read. It never moves back.
CREATE TABLE conversation_reads (
  conversation_id  bigint NOT NULL REFERENCES conversations (id) ON DELETE RESTRICT,
  user_id          bigint NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  message_id       bigint NOT NULL REFERENCES conversation_messages (id) ON DELETE RESTRICT,
  read_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (conversation_id, user_id)
);

-- Reach and membership (the one owner of both) ---------------------------------------------------------------------

-- Whether a caller with these token claims may see conversation c (NULL claims are absent).
CREATE FUNCTION conversation_reach(c conversations, p_role text, p_clinic bigint, p_doctor bigint, p_patient bigint)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE p_role WHEN 'ADMIN' THEN true
                     WHEN 'RECEPTIONIST' THEN c.clinic_id = p_clinic
                     WHEN 'DOCTOR' THEN c.clinic_id = p_clinic AND (c.doctor_id IS NULL OR c.doctor_id = p_doctor)
                     WHEN 'PATIENT' THEN c.patient_id = p_patient
                     ELSE false END
$$;

-- Whether such a caller is a member (may write, has a read receipt).
CREATE FUNCTION conversation_member(c conversations, p_role text, p_clinic bigint, p_doctor bigint, p_patient bigint)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT p_role <> 'ADMIN' AND conversation_reach(c, p_role, p_clinic, p_doctor, p_patient)
$$;

-- The rooms of c's events: its name and the standing rooms of its members (see the head comment).
CREATE FUNCTION conversation_rooms(c conversations) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT ARRAY['conversation:' || c.id, 'patient:' || c.patient_id]
         || CASE WHEN c.doctor_id IS NULL THEN ARRAY['clinic:' || c.clinic_id]
                 ELSE ARRAY['desk:' || c.clinic_id, 'doctor:' || c.doctor_id] END
         || CASE WHEN c.video_session_id IS NULL THEN '{}'::text[] ELSE ARRAY['video:' || c.video_session_id] END
$$;

-- The conversation p_id as the caller may use it (locked FOR SHARE when p_lock); CL002 when out of
-- reach, or when p_member and the caller is no member.
CREATE FUNCTION conversation_get(p_id bigint, p_role text, p_clinic bigint, p_doctor bigint, p_patient bigint,
                                 p_member boolean) RETURNS conversations
LANGUAGE plpgsql STABLE AS $$
DECLARE
  c conversations;
BEGIN
  SELECT * INTO c FROM conversations x WHERE x.id = p_id;
  IF NOT FOUND OR NOT conversation_reach(c, p_role, p_clinic, p_doctor, p_patient) THEN
    PERFORM raise_not_found('conversation');
  END IF;
  IF p_member AND NOT conversation_member(c, p_role, p_clinic, p_doctor, p_patient) THEN
    RAISE EXCEPTION 'not a member' USING ERRCODE = 'CL005',
      HINT = 'Only the members of a conversation (the patient and the clinic''s staff in it) can write in it.';
  END IF;
  RETURN c;
END
$$;

-- A limit was reached: CL004, the seconds to wait in DETAIL (Retry-After), p_hint for the client.
CREATE FUNCTION raise_throttled(p_seconds numeric, p_hint text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'limit reached' USING ERRCODE = 'CL004',
    DETAIL = greatest(1, ceil(p_seconds))::integer::text, HINT = p_hint;
END
$$;

-- Shapes --------------------------------------------------------------------------------------------------------------

CREATE FUNCTION conversation_message_json(m conversation_messages) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('id', m.id, 'conversation_id', m.conversation_id, 'sender_user_id', m.sender_user_id,
                            'sender_role', m.sender_role, 'text', m.text, 'client_id', m.client_id,
                            'created_at', rfc3339(m.created_at), 'edited_at', rfc3339(m.edited_at),
                            'deleted_at', rfc3339(m.deleted_at))
$$;

-- The conversation as the user p_user sees it: its last message, the user's read receipt and unread count.
CREATE FUNCTION conversation_json(c conversations, p_user bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', c.id, 'clinic_id', c.clinic_id, 'patient_id', c.patient_id, 'doctor_id', c.doctor_id,
    'appointment_id', c.appointment_id, 'video_session_id', c.video_session_id, 'subject', c.subject,
    'created_by', c.created_by, 'created_at', rfc3339(c.created_at), 'last_message_at', rfc3339(c.last_message_at),
    'patient_label', (SELECT patient_label(p.full_name) FROM patients p WHERE p.id = c.patient_id),
    'last_message', (SELECT conversation_message_json(m) FROM conversation_messages m
                     WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1),
    'last_read_message_id', r.message_id,
    'unread_count', (SELECT count(*) FROM conversation_messages m
                     WHERE m.conversation_id = c.id AND m.id > COALESCE(r.message_id, 0)
                       AND m.sender_user_id <> p_user AND m.deleted_at IS NULL))
  FROM (SELECT NULL) one
  LEFT JOIN conversation_reads r ON r.conversation_id = c.id AND r.user_id = p_user
$$;

-- The conversation with every member's read receipt (GET /conversations/{id}).
CREATE FUNCTION conversation_detail_json(c conversations, p_user bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT conversation_json(c, p_user) || jsonb_build_object('reads', COALESCE(
    (SELECT jsonb_agg(jsonb_build_object('user_id', r.user_id, 'message_id', r.message_id, 'read_at', rfc3339(r.read_at))
                      ORDER BY r.user_id)
     FROM conversation_reads r WHERE r.conversation_id = c.id), '[]'::jsonb))
$$;

-- Writes ------------------------------------------------------------------------------------------------------------

-- Opens a conversation (POST /conversations). The caller's claims decide: a patient opens one with
-- their own clinic (p_patient_id must be NULL; at most p_per_day within 24 h, else CL004); staff name
-- the patient of their clinic. A doctor's conversation is theirs (p_doctor_id NULL or their own).
-- An appointment must be the patient's; its doctor is the conversation's unless one is named.
CREATE FUNCTION conversation_create(p_user bigint, p_role text, p_clinic bigint, p_doctor bigint, p_patient bigint,
                                    p_patient_id bigint, p_doctor_id bigint, p_appointment_id bigint, p_subject text,
                                    p_per_day integer) RETURNS TABLE (body jsonb, id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c conversations;
  a appointments;
  n integer;
  oldest timestamptz;
BEGIN
  IF p_role = 'PATIENT' THEN
    PERFORM assert_field(p_patient_id IS NULL, 'conversations', 'patient_id', 'is taken from your account: leave it out');
    p_patient_id := p_patient;
    PERFORM pg_advisory_xact_lock(hashtextextended('conversation_create ' || p_user, 0));
    SELECT count(*), min(x.created_at) INTO n, oldest FROM conversations x
    WHERE x.created_by = p_user AND x.created_at > now() - interval '1 day';
    IF n >= p_per_day THEN
      PERFORM raise_throttled(extract(epoch FROM oldest + interval '1 day' - now()),
                              format('You can open %s conversations a day; reply in an open one or try again later.', p_per_day));
    END IF;
  ELSE
    PERFORM assert_field(p_patient_id IS NOT NULL, 'conversations', 'patient_id', 'is required');
  END IF;
  IF p_role = 'DOCTOR' THEN
    PERFORM assert_field(p_doctor_id IS NULL OR p_doctor_id = p_doctor, 'conversations', 'doctor_id',
                         'a doctor opens conversations in their own name');
    p_doctor_id := p_doctor;
  END IF;
  IF p_appointment_id IS NOT NULL THEN
    SELECT * INTO a FROM appointments x WHERE x.id = p_appointment_id AND x.clinic_id = p_clinic;
    PERFORM assert_field(FOUND AND a.patient_id = p_patient_id, 'conversations', 'appointment_id',
                         'is not an appointment of this patient');
    PERFORM assert_field(p_doctor_id IS NULL OR p_doctor_id = a.doctor_id, 'conversations', 'doctor_id',
                         'must be the appointment''s doctor');
    p_doctor_id := a.doctor_id;
  END IF;
  INSERT INTO conversations (clinic_id, patient_id, doctor_id, appointment_id, subject, created_by)
  VALUES (p_clinic, p_patient_id, p_doctor_id, p_appointment_id, p_subject, p_user) RETURNING * INTO c;
  PERFORM conversation_announce(c);
  body := conversation_json(c, p_user);
  id := c.id;
  RETURN NEXT;
END
$$;

CREATE FUNCTION conversation_announce(c conversations) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO events (name, rooms, data)
  VALUES ('conversation_created', conversation_rooms(c), jsonb_build_object('conversation', conversation_json(c, NULL)))
$$;

-- Sends p_text to conversation p_conv as the caller (a member). A retry with the same p_client_id
-- answers the stored message and stores nothing. At most p_per_minute messages of one sender within
-- a minute (CL004).
CREATE FUNCTION conversation_send(p_conv bigint, p_user bigint, p_role text, p_clinic bigint, p_doctor bigint,
                                  p_patient bigint, p_text text, p_client_id text, p_per_minute integer)
RETURNS TABLE (body jsonb, id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c conversations := conversation_get(p_conv, p_role, p_clinic, p_doctor, p_patient, true);
  m conversation_messages;
  n integer;
  oldest timestamptz;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('conversation_send ' || p_user, 0));
  IF p_client_id IS NOT NULL THEN
    SELECT * INTO m FROM conversation_messages x
    WHERE x.conversation_id = c.id AND x.sender_user_id = p_user AND x.client_id = p_client_id;
    IF FOUND THEN
      body := conversation_message_json(m);
      id := m.id;
      RETURN NEXT;
      RETURN;
    END IF;
  END IF;
  SELECT count(*), min(x.created_at) INTO n, oldest FROM conversation_messages x
  WHERE x.sender_user_id = p_user AND x.created_at > now() - interval '1 minute';
  IF n >= p_per_minute THEN
    PERFORM raise_throttled(extract(epoch FROM oldest + interval '1 minute' - now()),
                            format('You can send %s messages a minute; wait a moment.', p_per_minute));
  END IF;
  INSERT INTO conversation_messages (conversation_id, sender_user_id, sender_role, text, client_id)
  VALUES (c.id, p_user, p_role, p_text, p_client_id) RETURNING * INTO m;
  body := conversation_message_json(m);
  id := m.id;
  RETURN NEXT;
END
$$;

CREATE FUNCTION conversation_messages_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  c conversations;
BEGIN
  UPDATE conversations x SET last_message_at = NEW.created_at WHERE x.id = NEW.conversation_id RETURNING * INTO c;
  INSERT INTO events (name, rooms, data)
  VALUES ('chat_message', conversation_rooms(c), jsonb_build_object('message', conversation_message_json(NEW)));
  RETURN NULL;
END
$$;
CREATE TRIGGER conversation_messages_announce AFTER INSERT ON conversation_messages
  FOR EACH ROW EXECUTE FUNCTION conversation_messages_announce();

CREATE FUNCTION conversation_messages_revise() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO conversation_message_revisions (message_id, kind, text)
  VALUES (OLD.id, CASE WHEN NEW.deleted_at IS NOT NULL THEN 'delete' ELSE 'edit' END, OLD.text);
  INSERT INTO events (name, rooms, data)
  SELECT 'chat_message_updated', conversation_rooms(c), jsonb_build_object('message', conversation_message_json(NEW))
  FROM conversations c WHERE c.id = NEW.conversation_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER conversation_messages_revise AFTER UPDATE OF text ON conversation_messages
  FOR EACH ROW WHEN (OLD.text IS DISTINCT FROM NEW.text) EXECUTE FUNCTION conversation_messages_revise();

-- Edits (p_text) or deletes (p_text NULL) message p_msg of conversation p_conv: only its sender,
-- within p_window_seconds of sending, and not once deleted. The old text becomes a revision.
CREATE FUNCTION conversation_message_revise(p_conv bigint, p_msg bigint, p_user bigint, p_role text, p_clinic bigint,
                                            p_doctor bigint, p_patient bigint, p_text text, p_window_seconds integer)
RETURNS TABLE (body jsonb, id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c conversations := conversation_get(p_conv, p_role, p_clinic, p_doctor, p_patient, true);
  m conversation_messages;
BEGIN
  SELECT * INTO m FROM conversation_messages x WHERE x.id = p_msg AND x.conversation_id = c.id FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM raise_not_found('message');
  END IF;
  IF m.sender_user_id <> p_user THEN
    RAISE EXCEPTION 'not the sender' USING ERRCODE = 'CL005', HINT = 'Only the sender can change a message.';
  END IF;
  PERFORM assert_state(m.deleted_at IS NULL, 'The message was deleted.');
  PERFORM assert_state(m.created_at > now() - make_interval(secs => p_window_seconds),
                       format('A message can be changed only within %s minutes of sending it.', p_window_seconds / 60));
  UPDATE conversation_messages x
  SET text = p_text,
      edited_at = CASE WHEN p_text IS NOT NULL THEN now() ELSE x.edited_at END,
      deleted_at = CASE WHEN p_text IS NULL THEN now() END
  WHERE x.id = m.id RETURNING * INTO m;
  body := conversation_message_json(m);
  id := m.id;
  RETURN NEXT;
END
$$;

-- Moves the caller's read receipt in p_conv to p_msg (a message of it); never back: an older
-- message leaves it where it is. Announced as message_read when it moved.
CREATE FUNCTION conversation_read(p_conv bigint, p_msg bigint, p_user bigint, p_role text, p_clinic bigint,
                                  p_doctor bigint, p_patient bigint) RETURNS TABLE (body jsonb, id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c conversations := conversation_get(p_conv, p_role, p_clinic, p_doctor, p_patient, true);
  r conversation_reads;
  moved boolean := false;
BEGIN
  PERFORM assert_field(EXISTS (SELECT 1 FROM conversation_messages m WHERE m.id = p_msg AND m.conversation_id = c.id),
                       'conversation_reads', 'message_id', 'is not a message of this conversation');
  INSERT INTO conversation_reads AS x (conversation_id, user_id, message_id) VALUES (c.id, p_user, p_msg)
  ON CONFLICT (conversation_id, user_id) DO UPDATE SET message_id = EXCLUDED.message_id, read_at = now()
    WHERE x.message_id < EXCLUDED.message_id
  RETURNING * INTO r;
  moved := FOUND;
  IF moved THEN
    INSERT INTO events (name, rooms, data)
    VALUES ('message_read', conversation_rooms(c),
            jsonb_build_object('conversation_id', c.id, 'message_id', r.message_id, 'user_id', p_user));
  END IF;
  body := conversation_json(c, p_user);
  id := c.id;
  RETURN NEXT;
END
$$;

-- Typing (the signaling-server, chat.c): the caller, a member of p_conv, is typing. Nothing is
-- stored: every signaling instance is told on `typing` and delivers it to the conversation's rooms
-- (but the sender's own sessions). CL002 / CL005 as for a message.
CREATE FUNCTION conversation_typing(p_conv bigint, p_user bigint, p_role text, p_clinic bigint, p_doctor bigint,
                                    p_patient bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  c conversations := conversation_get(p_conv, p_role, p_clinic, p_doctor, p_patient, true);
BEGIN
  PERFORM pg_notify('typing', jsonb_build_object('rooms', conversation_rooms(c), 'conversation_id', c.id,
                                                 'user_id', p_user)::text);
END
$$;

-- The in-call chat: every video session opens its own conversation (its patient, doctor and
-- appointment), so the room's participants share it from the start.
CREATE FUNCTION video_sessions_conversation() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  c conversations;
BEGIN
  INSERT INTO conversations (clinic_id, patient_id, doctor_id, appointment_id, video_session_id, subject, created_by)
  VALUES (NEW.clinic_id, NEW.patient_id, NEW.doctor_id, NEW.appointment_id, NEW.id, 'Video consultation', NEW.created_by)
  RETURNING * INTO c;
  PERFORM conversation_announce(c);
  RETURN NULL;
END
$$;
CREATE TRIGGER video_sessions_conversation AFTER INSERT ON video_sessions
  FOR EACH ROW EXECUTE FUNCTION video_sessions_conversation();
