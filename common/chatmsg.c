/* chatmsg: see chatmsg.h. */
#include "chatmsg.h"

const struct field_spec chat_message_fields[2] = {
    {"text", FT_STRING, FF_REQUIRED, 1, 4000, NULL},
    {"client_id", FT_STRING, FF_NULLABLE, 1, 100, NULL},
};
