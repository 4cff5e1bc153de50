/* Unit tests for common/mailmsg.c: plain addresses, "Name <addr>" splitting, RFC 2047 encoded words
 * (length limits, UTF-8 sequences never split, CR/LF never left raw) and the whole message's shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailmsg.h"

/* Decodes the base64 of one encoded word's payload (standard alphabet, padded) into out. */
static size_t b64_decode(const char *in, size_t n, unsigned char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n && in[i] != '='; i++) {
        const char *p = strchr(a, in[i]);
        assert_non_null(p);
        v = (v << 6) | (unsigned)(p - a);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(v >> bits);
        }
    }
    return o;
}

/* Decodes a header value made of encoded words separated by folds, checking each word's shape. */
static void decode_words(const char *enc, char *out)
{
    size_t o = 0;
    const char *p = enc;
    while (*p) {
        assert_memory_equal(p, "=?UTF-8?B?", 10);
        const char *end = strstr(p + 10, "?=");
        assert_non_null(end);
        assert_true(end + 2 - p <= 75);
        size_t n = b64_decode(p + 10, (size_t)(end - p - 10), (unsigned char *)out + o);
        /* a word holds whole UTF-8 sequences: it never starts with a continuation byte */
        assert_true(n == 0 || ((unsigned char)out[o] & 0xC0) != 0x80);
        o += n;
        p = end + 2;
        if (*p) {
            assert_memory_equal(p, "\r\n ", 3);
            p += 3;
        }
    }
    out[o] = '\0';
}

static void test_addr_ok(void **state)
{
    (void)state;
    assert_true(mailmsg_addr_ok("ana@example.org"));
    assert_true(mailmsg_addr_ok("a+tag@x.y"));
    const char *bad[] = {"", "a@", "@b", "ab", "a@b@c", "a b@c", "a@b\r\nBcc: x@y", "<a@b>", "a,b@c", "\"a\"@b",
                         "a@b;c", NULL};
    for (int i = 0; bad[i]; i++)
        assert_false(mailmsg_addr_ok(bad[i]));
}

static void test_split_mailbox(void **state)
{
    (void)state;
    char name[64], addr[64];
    assert_true(mailmsg_split_mailbox("\"Clínica X\" <no-reply@c.test>", name, sizeof name, addr, sizeof addr));
    assert_string_equal(name, "Clínica X");
    assert_string_equal(addr, "no-reply@c.test");
    assert_true(mailmsg_split_mailbox("clinic@c.test", name, sizeof name, addr, sizeof addr));
    assert_string_equal(name, "");
    assert_string_equal(addr, "clinic@c.test");
    assert_false(mailmsg_split_mailbox("X <a@b> trailing", name, sizeof name, addr, sizeof addr));
    assert_false(mailmsg_split_mailbox("X <a b@c>", name, sizeof name, addr, sizeof addr));
    assert_false(mailmsg_split_mailbox("X <a@b", name, sizeof name, addr, sizeof addr));
}

static void test_phrase_plain_and_quoted(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(mailmsg_encode_phrase("Ana Souza", out, sizeof out), 9);
    assert_string_equal(out, "Ana Souza");
    mailmsg_encode_phrase("Souza, Ana \"Dra\"", out, sizeof out);
    assert_string_equal(out, "\"Souza, Ana \\\"Dra\\\"\"");
    assert_int_equal(mailmsg_encode_phrase("Ana Souza", out, 5), -1);
}

static void test_injection_is_encoded(void **state)
{
    (void)state;
    const char *evil = "Eve\r\nBcc: victim@evil.test";
    char out[512], back[512];
    assert_true(mailmsg_encode_phrase(evil, out, sizeof out) > 0);
    assert_null(strstr(out, "Bcc:"));
    decode_words(out, back);
    assert_string_equal(back, evil);
    assert_true(mailmsg_encode_text(evil, out, sizeof out) > 0);
    decode_words(out, back);
    assert_string_equal(back, evil);
    /* text that looks like an encoded word is encoded itself, so a reader cannot be fooled */
    mailmsg_encode_text("=?UTF-8?B?QQ==?=", out, sizeof out);
    decode_words(out, back);
    assert_string_equal(back, "=?UTF-8?B?QQ==?=");
}

static void test_long_utf8_subject_split(void **state)
{
    (void)state;
    char s[600] = "", out[2048], back[600];
    for (int i = 0; i < 100; i++)
        strcat(s, i % 3 ? "ç" : "ã€"); /* 2- and 3-byte sequences that straddle every chunk edge */
    assert_true(mailmsg_encode_text(s, out, sizeof out) > 0);
    assert_non_null(strstr(out, "\r\n =?UTF-8?B?"));
    decode_words(out, back);
    assert_string_equal(back, s);
    assert_int_equal(mailmsg_encode_text(s, out, 40), -1);
    assert_true(mailmsg_encode_text("", out, sizeof out) >= 0);
    assert_string_equal(out, "");
}

static void test_build_message(void **state)
{
    (void)state;
    struct mail_msg m = {"Clínica", "no-reply@c.test", "João\nBcc: x@y", "joao@p.test", "Consulta às 10:30",
                         "Olá\r\n.\r\nfim", "<p>Olá</p>", 42, 0, "abc123"};
    size_t len = 0;
    char *msg = mailmsg_build(&m, &len);
    assert_non_null(msg);
    assert_int_equal(strlen(msg), len);
    assert_non_null(strstr(msg, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
    assert_non_null(strstr(msg, "\r\nMessage-ID: <delivery-42@c.test>\r\n"));
    assert_non_null(strstr(msg, "\r\nX-Clinic-Delivery: 42\r\n"));
    assert_non_null(strstr(msg, "boundary=\"=_clinic_42_abc123\""));
    assert_non_null(strstr(msg, "To: =?UTF-8?B?"));
    assert_non_null(strstr(msg, " <joao@p.test>\r\n"));
    assert_non_null(strstr(msg, "\r\n--=_clinic_42_abc123--\r\n"));
    /* no bare LF, no header named by user data, no line of the body starting with a dot */
    for (const char *p = msg; (p = strchr(p, '\n')) != NULL; p++) {
        assert_true(p > msg && p[-1] == '\r');
        assert_true(p[1] != '.');
    }
    char *head_end = strstr(msg, "\r\n\r\n");
    assert_non_null(head_end);
    *head_end = '\0';
    assert_null(strstr(msg, "Bcc:"));
    free(msg);

    m.to_addr = "joao@p.test\r\nBcc: x@y";
    assert_null(mailmsg_build(&m, &len));
    m.to_addr = "joao@p.test";
    m.boundary_tag = "ab\"c";
    assert_null(mailmsg_build(&m, &len));
    m.boundary_tag = "abc";
    m.html = NULL;
    msg = mailmsg_build(&m, &len);
    assert_non_null(strstr(msg, "Content-Type: text/plain; charset=UTF-8\r\n"));
    assert_null(strstr(msg, "multipart"));
    free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_ok),
        cmocka_unit_test(test_split_mailbox),
        cmocka_unit_test(test_phrase_plain_and_quoted),
        cmocka_unit_test(test_injection_is_encoded),
        cmocka_unit_test(test_long_utf8_subject_split),
        cmocka_unit_test(test_build_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
