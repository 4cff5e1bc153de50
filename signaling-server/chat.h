/* chat: the live side of conversations (sql/0026_conversations.sql, docs/ARCHITECTURE.md §17) that
 * the outbox does not carry: `typing {conversation_id}` from a client, relayed to the conversation's
 * other members and never stored. Messages, edits and read receipts are outbox events (outbox.c). */
#ifndef SIG_CHAT_H
#define SIG_CHAT_H

#include <stdbool.h>

struct peer;

/* What answers a typing request of p: code NULL when accepted (relayed or dropped by the rate
 * limit), else why not (code, message: borrowed). */
typedef void (*chat_done_fn)(struct peer *p, long long ack_id, const char *code, const char *message);

/* Registers the `typing` notification with the database link (before dblink_start). */
void chat_init(void);
/* p (an authenticated access-token session) is typing in conversation conversation_id. At most one
 * a second per sender is passed on (the rest are answered as accepted and dropped); the database
 * checks that the sender is a member and notifies every instance, which delivers `typing
 * {conversation_id, user_id}` to its sessions in the conversation's rooms but the sender's own. */
void chat_typing(struct peer *p, long long conversation_id, long long ack_id, chat_done_fn done);

#endif
