/* chat: the live side of conversations (sql/0026_conversations.sql, sql/0036_video_chat.sql,
 * docs/ARCHITECTURE.md §17) that the outbox does not carry: `typing` from a client, relayed to the
 * conversation's other members and never stored; and the in-call chat of a video connection, which
 * writes and reads its session's conversation through the socket (`chat_message {text, client_id?}`,
 * `chat_history {before_id?, limit?}`): the patient invited without an account has no other way.
 * Messages themselves reach everyone as outbox events (outbox.c). */
#ifndef SIG_CHAT_H
#define SIG_CHAT_H

#include <jansson.h>
#include <stdbool.h>

struct peer;

/* What answers a request of p: code NULL when accepted, with result (stolen; may be NULL) the
 * fields of the ack beside ok; else why not (code, message: borrowed; result NULL, or the refusal's
 * extra fields such as retry_after_seconds). */
typedef void (*chat_done_fn)(struct peer *p, long long ack_id, const char *code, const char *message, json_t *result);

/* Registers the `typing` notification with the database link (before dblink_start). */
void chat_init(void);
/* p is typing in conversation conversation_id (0: not given, which a video connection may leave out:
 * its session's conversation). At most one a second per sender is passed on (the rest are answered as
 * accepted and dropped); the database checks that the sender is a member (a video connection: one who
 * may use the in-call chat) and notifies every instance, which delivers `typing {conversation_id,
 * user_id, sender_role}` to its sessions in the conversation's rooms but the sender's own. */
void chat_typing(struct peer *p, long long conversation_id, long long ack_id, chat_done_fn done);
/* A message from video connection p to its session's conversation; answered with {message_id}. */
void chat_send(struct peer *p, const char *text, const char *client_id, long long ack_id, chat_done_fn done);
/* The in-call chat so far for video connection p: at most limit messages before before_id (0: the
 * newest), answered with {conversation_id, messages, has_more}. */
void chat_history(struct peer *p, long long before_id, long long limit, long long ack_id, chat_done_fn done);

#endif
