-- What else reaches the notification inbox (0027's notify_user), so that a user whose screen was closed
-- does not miss it (docs/ARCHITECTURE.md "Notifications"):
--
--   conversation_message  a new message in a conversation, to every member but its sender: the patient's
--                         user, the conversation's doctor (none when it names no doctor: the desk answers
--                         those) and the clinic's active receptionists. A member keeps at most one unread
--                         notification per conversation: a newer message replaces it (the older one is
--                         deleted in the same transaction), so a lively chat is one line in the inbox; a
--                         read receipt in the conversation (POST .../read) marks it read up to that message.
--   doctor_ready          the "your doctor is ready" notice of a video session (0025's video_notices
--                         row), to the patient's user: the same moment the e-mail or SMS is queued.
--
-- Triggers added here:
--   conversation_messages_notify  AFTER INSERT ON conversation_messages   conversation_message notifications
--   conversation_reads_notified   AFTER INSERT OR UPDATE ON conversation_reads   marks them read
--   video_notices_notify          AFTER INSERT ON video_notices           doctor_ready notification

CREATE INDEX notifications_unread_conversation_idx ON notifications (user_id, ((data ->> 'conversation_id')))
  WHERE kind = 'conversation_message' AND read_at IS NULL;

CREATE FUNCTION conversation_messages_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  c conversations;
  member bigint;
  sender text;
  data jsonb;
  preview text;
BEGIN
  SELECT * INTO c FROM conversations WHERE id = NEW.conversation_id;
  SELECT full_name INTO sender FROM users WHERE id = NEW.sender_user_id;
  data := jsonb_build_object('conversation_id', c.id, 'message_id', NEW.id, 'clinic_id', c.clinic_id,
                             'patient_id', c.patient_id, 'doctor_id', c.doctor_id);
  preview := left(COALESCE(NEW.text, ''), 200);
  FOR member IN
    SELECT p.user_id FROM patients p WHERE p.id = c.patient_id AND p.user_id IS NOT NULL
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
CREATE TRIGGER conversation_messages_notify AFTER INSERT ON conversation_messages
  FOR EACH ROW EXECUTE FUNCTION conversation_messages_notify();
COMMENT ON TRIGGER conversation_messages_notify ON conversation_messages IS
  'notify_user: conversation_message to every member but the sender, one unread per conversation (0031).';

CREATE FUNCTION conversation_reads_notified() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE notifications n SET read_at = now()
   WHERE n.user_id = NEW.user_id AND n.kind = 'conversation_message' AND n.read_at IS NULL
     AND n.data ->> 'conversation_id' = NEW.conversation_id::text
     AND (n.data ->> 'message_id')::bigint <= NEW.message_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER conversation_reads_notified AFTER INSERT OR UPDATE OF message_id ON conversation_reads
  FOR EACH ROW EXECUTE FUNCTION conversation_reads_notified();
COMMENT ON TRIGGER conversation_reads_notified ON conversation_reads IS
  'A read receipt marks the reader''s conversation_message notification read (0031).';

CREATE FUNCTION video_notices_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  patient_user bigint;
  doctor_name text;
BEGIN
  SELECT p.user_id, u.full_name INTO patient_user, doctor_name
    FROM video_sessions s
    JOIN patients p ON p.id = s.patient_id
    JOIN doctors d ON d.id = s.doctor_id
    JOIN users u ON u.id = d.user_id
   WHERE s.id = NEW.session_id;
  PERFORM notify_user(patient_user, 'doctor_ready', 'Your doctor is ready',
                      COALESCE(doctor_name, '') || ' is waiting for you in the video consultation.',
                      jsonb_build_object('video_session_id', NEW.session_id));
  RETURN NULL;
END
$$;
CREATE TRIGGER video_notices_notify AFTER INSERT ON video_notices
  FOR EACH ROW WHEN (NEW.kind = 'doctor_ready') EXECUTE FUNCTION video_notices_notify();
COMMENT ON TRIGGER video_notices_notify ON video_notices IS
  'notify_user: doctor_ready to the session''s patient (0031).';
