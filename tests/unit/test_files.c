/* Unit tests for common/filetype.c (types by magic bytes, stored names, Content-Disposition) and
 * common/byterange.c (one Range against a file's size). Each case prints what it got and what it
 * wanted in one string, so a failure names the case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "byterange.h"
#include "filetype.h"

static void sniff(const char *bytes, size_t n, bool images_only, const char *want)
{
    const char *got = filetype_sniff((const unsigned char *)bytes, n, images_only);
    assert_string_equal(got ? got : "(none)", want ? want : "(none)");
}

static void test_sniff(void **state)
{
    (void)state;
    sniff("%PDF-1.7\n", 9, false, "application/pdf");
    sniff("%PDF-1.7\n", 9, true, NULL);
    sniff("\x89PNG\r\n\x1a\nrest", 12, false, "image/png");
    sniff("\x89PNG\r\n\x1a", 7, false, NULL); /* cut short */
    sniff("\xff\xd8\xff\xe0", 4, true, "image/jpeg");
    sniff("RIFF\x10\0\0\0WEBPVP8 ", 16, true, "image/webp");
    sniff("RIFF\x10\0\0\0WAVEfmt ", 16, false, NULL);
    sniff("XXXX\x10\0\0\0WEBP", 12, false, NULL);
    sniff("<html>%PDF-1.4", 14, false, NULL);
    sniff(" %PDF-1.4", 9, false, NULL);
    sniff("", 0, false, NULL);
}

static void name(const char *sent, const char *mime, const char *want)
{
    char out[64];
    filetype_safe_name(sent, mime, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_safe_name(void **state)
{
    (void)state;
    name("scan.pdf", "image/png", "scan.png");
    name("C:\\docs\\exam.PDF", "application/pdf", "exam.pdf");
    name("../../etc/passwd", "image/jpeg", "passwd.jpg");
    name("a\"b\r\nc.pdf", "application/pdf", "a_b__c.pdf");
    name("", "image/webp", "document.webp");
    name(".hidden", "image/png", "hidden.png");
    name("ção.pdf", "application/pdf", "ção.pdf");
    name("bad\xff\xfe.pdf", "application/pdf", "bad__.pdf");
    name("c1\xc2\x85\xc2\x9b\xc2\xa0.pdf", "application/pdf", "c1__\xc2\xa0.pdf"); /* C1 controls; NBSP stays */
    name("x.tar.gz", "image/png", "x.tar.png");
    /* cut to fit, never inside a UTF-8 character: 29 of them (58 bytes), the room of 64 less ".pdf" and NUL */
    name("ççççççççççççççççççççççççççççççççççççççççççç.pdf", "application/pdf",
         "ççççççççççççççççççççççççççççç.pdf");
}

static void test_disposition(void **state)
{
    (void)state;
    char out[256];
    assert_true(filetype_disposition("exame ção 100%.pdf", out, sizeof out));
    assert_string_equal(out, "attachment; filename=\"exame __o 100_.pdf\"; "
                             "filename*=UTF-8''exame%20%C3%A7%C3%A3o%20100%25.pdf");
    char small[40];
    assert_false(filetype_disposition("a-rather-long-name-for-this-buffer.pdf", small, sizeof small));
}

static void range(const char *h, uint64_t size, const char *want)
{
    uint64_t first = 0, count = 0;
    enum byterange r = byterange_parse(h, size, &first, &count);
    char got[64];
    if (r == BYTERANGE_PART)
        snprintf(got, sizeof got, "%llu+%llu", (unsigned long long)first, (unsigned long long)count);
    else
        snprintf(got, sizeof got, "%s", r == BYTERANGE_WHOLE ? "whole" : "416");
    assert_string_equal(got, want);
}

static void test_range(void **state)
{
    (void)state;
    range(NULL, 100, "whole");
    range("bytes=0-9", 100, "0+10");
    range("bytes=90-", 100, "90+10");
    range("bytes=-5", 100, "95+5");
    range("bytes=-500", 100, "0+100");
    range("bytes=50-5000", 100, "50+50");
    range("bytes=99-99", 100, "99+1");
    range("BYTES=0-0", 100, "0+1");
    range("bytes=100-", 100, "416");
    range("bytes=100-200", 100, "416");
    range("bytes=-0", 100, "416");
    range("bytes=0-1,4-5", 100, "whole");
    range("bytes=9-1", 100, "whole");
    range("bytes=a-b", 100, "whole");
    range("bytes=1-2x", 100, "whole");
    range("items=0-1", 100, "whole");
    range("bytes=0-99999999999999999999", 100, "whole");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_safe_name),
        cmocka_unit_test(test_disposition),
        cmocka_unit_test(test_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
