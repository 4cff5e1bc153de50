/* chatmsg: what a chat message is, for both servers (docs/ARCHITECTURE.md §17): the fields of a send
 * (text 1..4000 characters, NUL refused and UTF-8 checked by the JSON parser; client_id 1..100), used
 * by the api-server's POST /conversations/{id}/messages and by the signaling-server's in-call
 * `chat_message`, and the default of CHAT_MESSAGES_PER_MINUTE, which both read. */
#ifndef CLINIC_CHATMSG_H
#define CLINIC_CHATMSG_H

#include "validate.h"

#define CHAT_MESSAGES_PER_MINUTE_DEFAULT 30 /* messages one sender may send within a minute */

extern const struct field_spec chat_message_fields[2];

#endif
