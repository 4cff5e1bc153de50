-- The in-call chat written from the video room (DESIGN §9, docs/ARCHITECTURE.md §17): the holders of a
-- video session's join tokens write in the session's conversation through their signaling connection
-- (`chat_message {text, client_id?}`, `typing`), the patient invited without an account included.
--
-- Such a patient has no user: their messages are stored with sender_user_id NULL, sender_role PATIENT
-- and sender_guest, the holder's identity (t<token id>, as in video_connections.identity), so the record
-- says which invitation's holder wrote them. A guest's retry is one message per (conversation, holder,
-- client_id); the per-minute limit counts the guests of a conversation together. A guest has no read receipt,
-- and nobody may edit or delete a guest's message (conversation_message_revise compared senders with `<>`).
--
-- Who may write from the room follows the call's own rule (video_relay_send): the doctor while the
-- session is open; the patient as the admitted holder, while the call is in progress. A patient waiting
-- for admission neither hears nor writes the in-call chat (the signaling-server's may-hear rule).
--
-- conversation_post is now the one writer of conversation_messages (the REST send and the room's).
-- Typing names its sender in the notification ({..., sender: u<user id in hex> or t<token id>, sender_role}),
-- so a guest's own connections are left out as a user's are.
--
-- Also: a guest's message counts as unread for the members (conversation_json compared the sender with
-- `<>`) but the patient's own user, and the inbox names a guest by the patient's name and leaves out the
-- patient's own user.

ALTER TABLE conversation_messages
  ALTER COLUMN sender_user_id DROP NOT NULL,
  ADD COLUMN sender_guest text CONSTRAINT conversation_messages_sender_guest_check CHECK (sender_guest ~ '^t[0-9a-f]{1,32}$'),
  ADD CONSTRAINT conversation_messages_sender_check
    CHECK ((sender_user_id IS NULL) = (sender_guest IS NOT NULL) AND (sender_guest IS NULL OR sender_role = 'PATIENT'));
CREATE UNIQUE INDEX conversation_messages_guest_client_id_key
  ON conversation_messages (conversation_id, sender_guest, client_id) WHERE sender_user_id IS NULL;
CREATE INDEX conversation_messages_guest_idx ON conversation_messages (conversation_id, created_at)
  WHERE sender_user_id IS NULL;

CREATE OR REPLACE FUNCTION conversation_message_json(m conversation_messages) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', m.id, 'conversation_id', m.conversation_id, 'sender_user_id', m.sender_user_id,
                            'sender_role', m.sender_role, 'sender_guest', m.sender_guest IS NOT NULL,
                            'text', m.text, 'client_id', m.client_id, 'created_at', rfc3339(m.created_at),
                            'edited_at', rfc3339(m.edited_at), 'deleted_at', rfc3339(m.deleted_at))
$$;

CREATE OR REPLACE FUNCTION conversation_json(c conversations, p_user bigint) RETURNS jsonb
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
                       AND m.sender_user_id IS DISTINCT FROM p_user AND m.deleted_at IS NULL
                       AND (m.sender_user_id IS NOT NULL OR pt.user_id IS DISTINCT FROM p_user)))
  FROM (SELECT NULL) one
  LEFT JOIN conversation_reads r ON r.conversation_id = c.id AND r.user_id = p_user
  LEFT JOIN patients pt ON pt.id = c.patient_id
$$;

-- Who wrote m, as the inbox names them: the user's name, or the patient's for a guest of the call.
CREATE FUNCTION conversation_sender_name(m conversation_messages) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN m.sender_user_id IS NOT NULL THEN (SELECT u.full_name FROM users u WHERE u.id = m.sender_user_id)
              ELSE (SELECT p.full_name FROM conversations c JOIN patients p ON p.id = c.patient_id
                    WHERE c.id = m.conversation_id) END
$$;

-- Stores p_text in conversation c (already checked by the caller) from p_user, or, p_user NULL, from
-- p_guest, the patient's holder of an invitation to c's video session; p_role is the sender's role. A
-- retry with the same p_client_id answers the stored message and stores nothing. At most p_per_minute
-- messages of one sender (the guests of c together) within a minute, else CL004.
CREATE FUNCTION conversation_post(c conversations, p_user bigint, p_guest text, p_role text, p_text text,
                                  p_client_id text, p_per_minute integer) RETURNS conversation_messages
LANGUAGE plpgsql AS $$
DECLARE
  m conversation_messages;
  n integer;
  oldest timestamptz;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(
    'conversation_send ' || COALESCE(p_user::text, 'guest ' || c.id), 0));
  IF p_client_id IS NOT NULL AND p_user IS NOT NULL THEN
    SELECT * INTO m FROM conversation_messages x
    WHERE x.conversation_id = c.id AND x.sender_user_id = p_user AND x.client_id = p_client_id;
  ELSIF p_client_id IS NOT NULL THEN
    SELECT * INTO m FROM conversation_messages x
    WHERE x.conversation_id = c.id AND x.sender_user_id IS NULL AND x.sender_guest = p_guest
      AND x.client_id = p_client_id;
  END IF;
  IF m.id IS NOT NULL THEN
    RETURN m;
  END IF;
  IF p_user IS NOT NULL THEN
    SELECT count(*), min(x.created_at) INTO n, oldest FROM conversation_messages x
    WHERE x.sender_user_id = p_user AND x.created_at > now() - interval '1 minute';
  ELSE
    SELECT count(*), min(x.created_at) INTO n, oldest FROM conversation_messages x
    WHERE x.conversation_id = c.id AND x.sender_user_id IS NULL AND x.created_at > now() - interval '1 minute';
  END IF;
  IF n >= p_per_minute THEN
    PERFORM raise_throttled(extract(epoch FROM oldest + interval '1 minute' - now()),
                            format('You can send %s messages a minute; wait a moment.', p_per_minute));
  END IF;
  INSERT INTO conversation_messages (conversation_id, sender_user_id, sender_guest, sender_role, text, client_id)
  VALUES (c.id, p_user, CASE WHEN p_user IS NULL THEN p_guest END, p_role, p_text, p_client_id) RETURNING * INTO m;
  RETURN m;
END
$$;

CREATE OR REPLACE FUNCTION conversation_send(p_conv bigint, p_user bigint, p_role text, p_clinic bigint,
                                             p_doctor bigint, p_patient bigint, p_text text, p_client_id text,
                                             p_per_minute integer)
RETURNS TABLE (body jsonb, id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c conversations := conversation_get(p_conv, p_role, p_clinic, p_doctor, p_patient, true);
  m conversation_messages := conversation_post(c, p_user, NULL, p_role, p_text, p_client_id, p_per_minute);
BEGIN
  body := conversation_message_json(m);
  id := m.id;
  RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION conversation_message_revise(p_conv bigint, p_msg bigint, p_user bigint, p_role text,
                                                       p_clinic bigint, p_doctor bigint, p_patient bigint, p_text text,
                                                       p_window_seconds integer)
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
  IF m.sender_user_id IS DISTINCT FROM p_user THEN
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

-- Announces that p_sender (u<user id in hex>, or t<token id> for a guest, p_user NULL then: the
-- identities of video_connections) with p_role is typing in c: NOTIFY typing, nothing stored (chat.c
-- delivers it).
CREATE FUNCTION conversation_typing_notify(c conversations, p_user bigint, p_sender text, p_role text) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_notify('typing', jsonb_build_object('rooms', conversation_rooms(c), 'conversation_id', c.id,
                                                'user_id', p_user, 'sender', p_sender, 'sender_role', p_role)::text)
$$;

CREATE OR REPLACE FUNCTION conversation_typing(p_conv bigint, p_user bigint, p_role text, p_clinic bigint,
                                               p_doctor bigint, p_patient bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  c conversations := conversation_get(p_conv, p_role, p_clinic, p_doctor, p_patient, true);
BEGIN
  PERFORM conversation_typing_notify(c, p_user, 'u' || to_hex(p_user), p_role);
END
$$;

-- The room's side --------------------------------------------------------------------------------------------------

-- The conversation of video session p_session for the holder p_identity of one of its join tokens
-- (p_role doctor or patient): the doctor's while the session is open; the patient's as the admitted
-- holder while the call is in progress. Refused (55000) otherwise; CL002 when p_conv names another.
CREATE FUNCTION video_chat_conversation(p_session bigint, p_role text, p_identity text, p_conv bigint)
RETURNS conversations
LANGUAGE plpgsql STABLE AS $$
DECLARE
  c conversations;
  v_status text;
BEGIN
  SELECT s.status INTO v_status FROM video_sessions s WHERE s.id = p_session;
  PERFORM assert_state(COALESCE(v_status IN ('scheduled', 'waiting', 'in_progress'), false),
                       'The video consultation is over.');
  PERFORM assert_state(p_role = 'doctor'
                       OR (v_status = 'in_progress'
                           AND EXISTS (SELECT 1 FROM video_participants vp
                                       WHERE vp.session_id = p_session AND vp.role = 'patient' AND vp.admitted
                                         AND vp.admitted_identity = p_identity)),
                       'The chat opens once the doctor has admitted you to the call.');
  SELECT * INTO c FROM conversations cv WHERE cv.video_session_id = p_session;
  IF p_conv IS NOT NULL AND p_conv <> c.id THEN
    PERFORM raise_not_found('conversation');
  END IF;
  RETURN c;
END
$$;

-- A message from the room (chat.c): p_user the holder's user (NULL for a guest), p_identity its
-- identity. Answers the message's id (for the ack; the chat_message event carries it to the room) and
-- whether this call stored it (false for a retry: its row was written by an earlier transaction, so its
-- created_at is not this transaction's now()).
CREATE FUNCTION video_chat_send(p_session bigint, p_role text, p_identity text, p_user bigint, p_text text,
                                p_client_id text, p_per_minute integer, OUT message_id bigint, OUT stored boolean)
LANGUAGE plpgsql AS $$
DECLARE
  c conversations := video_chat_conversation(p_session, p_role, p_identity, NULL);
  m conversation_messages := conversation_post(c, p_user, p_identity, upper(p_role), p_text, p_client_id, p_per_minute);
BEGIN
  message_id := m.id;
  stored := m.created_at = now();
END
$$;

CREATE FUNCTION video_chat_typing(p_session bigint, p_role text, p_identity text, p_user bigint, p_conv bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  c conversations := video_chat_conversation(p_session, p_role, p_identity, p_conv);
BEGIN
  PERFORM conversation_typing_notify(c, p_user, p_identity, upper(p_role));
END
$$;

-- The in-call chat so far, for a holder who may use it (video_chat_conversation): at most p_limit
-- messages before message p_before (NULL: the newest), oldest first, and no more of them than fit in
-- about 256 KB of text (at least one), so a page stays well inside a connection's send queue.
CREATE FUNCTION video_chat_history(p_session bigint, p_role text, p_identity text, p_before bigint, p_limit integer)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  c conversations := video_chat_conversation(p_session, p_role, p_identity, NULL);
  page jsonb;
  more boolean;
BEGIN
  SELECT COALESCE(jsonb_agg(conversation_message_json(m.msg) ORDER BY (m.msg).id), '[]'::jsonb) INTO page
  FROM (SELECT x AS msg,
               sum(octet_length(COALESCE(x.text, '')) + 300) OVER (ORDER BY x.id DESC)
                 - (octet_length(COALESCE(x.text, '')) + 300) AS before_it
        FROM conversation_messages x
        WHERE x.conversation_id = c.id AND (p_before IS NULL OR x.id < p_before)
        ORDER BY x.id DESC LIMIT p_limit) m
  WHERE m.before_it < 262144;
  SELECT EXISTS (SELECT 1 FROM conversation_messages x
                 WHERE x.conversation_id = c.id
                   AND x.id < COALESCE((page -> 0 ->> 'id')::bigint, p_before, 0)) INTO more;
  RETURN jsonb_build_object('conversation_id', c.id, 'messages', page, 'has_more', more);
END
$$;

-- The inbox (0031, 0034): a guest is named by the patient's name; the patient's own user is not told
-- of a message the patient wrote, with an account or as the guest of a call.
CREATE OR REPLACE FUNCTION conversation_messages_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  c conversations;
  member bigint;
  sender text := conversation_sender_name(NEW);
  data jsonb;
  preview text;
BEGIN
  SELECT * INTO c FROM conversations WHERE id = NEW.conversation_id;
  data := jsonb_build_object('conversation_id', c.id, 'message_id', NEW.id, 'clinic_id', c.clinic_id,
                             'patient_id', c.patient_id, 'doctor_id', c.doctor_id);
  preview := left(COALESCE(NEW.text, ''), 200);
  FOR member IN
    SELECT p.user_id FROM patients p WHERE p.id = c.patient_id AND p.user_id IS NOT NULL AND NEW.sender_role <> 'PATIENT'
    UNION
    SELECT d.user_id FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.id = c.doctor_id AND u.active
    UNION
    SELECT u.id FROM users u WHERE u.clinic_id = c.clinic_id AND u.role = 'RECEPTIONIST' AND u.active
  LOOP
    CONTINUE WHEN member = NEW.sender_user_id;
    DELETE FROM notifications n
     WHERE n.user_id = member AND n.kind = 'conversation_message' AND n.read_at IS NULL
       AND n.data ->> 'conversation_id' = c.id::text;
    PERFORM notify_user(member, 'conversation_message', COALESCE(c.subject, sender, 'New message'),
                        COALESCE(sender || ': ', '') || preview, data);
  END LOOP;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION conversation_messages_renotify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  sender text := conversation_sender_name(NEW);
BEGIN
  UPDATE notifications n
     SET body = COALESCE(sender || ': ', '') || COALESCE(left(NEW.text, 200), '(message deleted)')
   WHERE n.kind = 'conversation_message' AND n.data ->> 'message_id' = NEW.id::text;
  RETURN NULL;
END
$$;
