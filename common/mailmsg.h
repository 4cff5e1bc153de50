/* mailmsg: builds the RFC 5322 text of an outbound e-mail (plain text plus HTML, multipart/alternative) and
 * the RFC 2047 encoded words its headers need. Pure: no I/O, no globals; unit tested.
 *
 * Header safety: nothing from user data is spliced into a header as is. Display names and subjects are
 * written as UTF-8 "B" encoded words whenever they hold anything but plain printable ASCII (a CR or LF
 * included), and as quoted strings otherwise; addresses must be plain (no CR, LF, spaces, angle brackets,
 * quotes, commas) or the message is refused. Bodies travel in base64, so no line of user text can end the
 * headers, a MIME part or the SMTP DATA. */
#ifndef CLINIC_MAILMSG_H
#define CLINIC_MAILMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mail_msg {
    const char *from_name;  /* may be NULL or "" */
    const char *from_addr;  /* required */
    const char *to_name;    /* may be NULL or "" */
    const char *to_addr;    /* required */
    const char *subject;    /* UTF-8 */
    const char *text;       /* UTF-8 plain text body */
    const char *html;       /* UTF-8 HTML body; NULL = text only */
    int64_t delivery_id;    /* Message-ID and X-Clinic-Delivery */
    time_t date;            /* the Date header (UTC) */
    const char *boundary_tag; /* a random token for the MIME boundary ([A-Za-z0-9] only) */
};

/* Whether addr is a plain address "local@domain" safe to place in a header and an SMTP command:
 * 3..254 printable ASCII characters, one '@' with text on both sides, none of CR LF space < > " , ( ) \ ;. */
bool mailmsg_addr_ok(const char *addr);

/* Splits a "Name <addr>" (or a bare "addr") into name (may come out empty) and addr; false when malformed. */
bool mailmsg_split_mailbox(const char *mailbox, char *name, size_t name_len, char *addr, size_t addr_len);

/* Writes s as a header phrase into out (size n): s itself when it is printable ASCII without
 * specials, a quoted string when it is printable ASCII with specials, else RFC 2047 encoded words
 * (=?UTF-8?B?...?=, each at most 75 characters, never splitting a UTF-8 sequence) separated by
 * CRLF SP folds. Returns the length, or -1 when out is too small. */
long mailmsg_encode_phrase(const char *s, char *out, size_t n);
/* The same for unstructured text (a Subject): plain printable ASCII as is, else encoded words. */
long mailmsg_encode_text(const char *s, char *out, size_t n);

/* Builds the whole message (headers, CRLF line ends). Returns a malloc'd NUL-terminated string (caller
 * frees) and its length in *len, or NULL when an address is not plain or a field is missing. */
char *mailmsg_build(const struct mail_msg *m, size_t *len);

#endif
