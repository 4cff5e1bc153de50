-- Two corrections of what a record may reveal:
--
-- * An upload is answered with an existing document only when the uploader may see it
--   (api-server/h_documents.c, document_access); a file the uploader may not see is stored again, as
--   theirs. So one file may now be held once per uploader of a patient (the same uploader sending it
--   again still gets their document back), and an upload never tells what else the record holds.
-- * A conversation_message notification follows its message: an edit rewrites its preview, a deletion
--   removes the text (the message's revisions keep what was said, for those who may read them).
--
-- Triggers added here:
--   conversation_messages_renotify  AFTER UPDATE OF text ON conversation_messages   the notifications' preview

DROP INDEX documents_patient_sha256_key;
CREATE UNIQUE INDEX documents_patient_sha256_key ON documents (patient_id, sha256, uploaded_by) WHERE deleted_at IS NULL;

CREATE INDEX notifications_message_idx ON notifications (((data ->> 'message_id')))
  WHERE kind = 'conversation_message';

CREATE FUNCTION conversation_messages_renotify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  sender text;
BEGIN
  SELECT full_name INTO sender FROM users WHERE id = NEW.sender_user_id;
  UPDATE notifications n
     SET body = COALESCE(sender || ': ', '') || COALESCE(left(NEW.text, 200), '(message deleted)')
   WHERE n.kind = 'conversation_message' AND n.data ->> 'message_id' = NEW.id::text;
  RETURN NULL;
END
$$;
CREATE TRIGGER conversation_messages_renotify AFTER UPDATE OF text ON conversation_messages
  FOR EACH ROW WHEN (NEW.text IS DISTINCT FROM OLD.text) EXECUTE FUNCTION conversation_messages_renotify();
COMMENT ON TRIGGER conversation_messages_renotify ON conversation_messages IS
  'An edit or a deletion rewrites the conversation_message notifications'' preview (0034).';
