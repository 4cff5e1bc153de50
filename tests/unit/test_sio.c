/* Unit tests for the Engine.IO / Socket.IO codec of signaling-server/sio.c: every packet kind parsed,
 * namespaces and ack ids, each refusal with its reason, the boundaries (ack id and namespace lengths,
 * empty frames, NUL bytes, trailing bytes, nesting depth, bad UTF-8), and every encoder's output
 * parsed back to the values it was given. Frames are passed with explicit lengths, never as C
 * strings, so a test can hold a NUL byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"

/* A frame from a string literal, NUL bytes included (the literal's own terminator excluded). */
#define LIT(s) (s), (sizeof(s) - 1)

/* Parses buf (len bytes) and fails the test with the reason when it is refused. */
static void parse_ok(const char *buf, size_t len, struct sio_packet *pk)
{
    const char *why = NULL;
    if (!sio_parse(buf, len, pk, &why))
        fail_msg("frame \"%.*s\" refused: %s", (int)len, buf, why ? why : "(no reason)");
}

/* Parses buf and checks it is refused with exactly the reason want. */
static void refused(const char *buf, size_t len, const char *want)
{
    struct sio_packet pk;
    const char *why = NULL;
    if (sio_parse(buf, len, &pk, &why)) {
        sio_packet_clear(&pk);
        fail_msg("frame \"%.*s\" accepted, want refusal \"%s\"", (int)len, buf, want);
    }
    assert_null(pk.data);
    if (!why || strcmp(why, want) != 0)
        fail_msg("frame \"%.*s\": reason \"%s\", want \"%s\"", (int)len, buf, why ? why : "(null)", want);
}

/* Checks that pk.data equals the JSON text want (NULL: no payload). */
static void data_is(const struct sio_packet *pk, const char *want)
{
    if (!want) {
        assert_null(pk->data);
        return;
    }
    json_t *expected = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(expected);
    if (!json_equal(pk->data, expected)) {
        char *got = pk->data ? json_dumps(pk->data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        fail_msg("data %s, want %s", got ? got : "(null)", want);
    }
    json_decref(expected);
}

/* Parses a frame and checks every field of the packet. */
static void expect_packet(const char *buf, size_t len, char eio, int sio, const char *nsp, long long ack,
                          const char *data)
{
    struct sio_packet pk;
    parse_ok(buf, len, &pk);
    assert_int_equal(pk.eio, eio);
    assert_int_equal(pk.sio, sio);
    assert_string_equal(pk.nsp, nsp);
    assert_int_equal(pk.ack_id, ack);
    data_is(&pk, data);
    sio_packet_clear(&pk);
    assert_null(pk.data);
}

static void test_engineio_types(void **state)
{
    (void)state;
    expect_packet(LIT("0"), '0', -1, "/", -1, NULL);
    expect_packet(LIT("0{\"sid\":\"abc\",\"upgrades\":[]}"), '0', -1, "/", -1, "{\"sid\":\"abc\",\"upgrades\":[]}");
    expect_packet(LIT("1"), '1', -1, "/", -1, NULL);
    expect_packet(LIT("2"), '2', -1, "/", -1, NULL);
    expect_packet(LIT("2probe"), '2', -1, "/", -1, "\"probe\"");
    expect_packet(LIT("3"), '3', -1, "/", -1, NULL);
    expect_packet(LIT("3probe"), '3', -1, "/", -1, "\"probe\"");
    expect_packet(LIT("5"), '5', -1, "/", -1, NULL);
    expect_packet(LIT("6"), '6', -1, "/", -1, NULL);
}

static void test_connect(void **state)
{
    (void)state;
    expect_packet(LIT("40"), '4', 0, "/", -1, NULL);
    expect_packet(LIT("40{}"), '4', 0, "/", -1, "{}");
    expect_packet(LIT("40{\"token\":\"a.b.c\",\"last_event_id\":\"e-17\"}"), '4', 0, "/", -1,
                  "{\"token\":\"a.b.c\",\"last_event_id\":\"e-17\"}");
    expect_packet(LIT("40 {\"token\":\"t\"} \n"), '4', 0, "/", -1, "{\"token\":\"t\"}");
}

static void test_disconnect_event_ack_error(void **state)
{
    (void)state;
    expect_packet(LIT("41"), '4', 1, "/", -1, NULL);
    expect_packet(LIT("42[\"hello\"]"), '4', 2, "/", -1, "[\"hello\"]");
    expect_packet(LIT("42[\"hello\",{\"a\":1},[2,3],null]"), '4', 2, "/", -1, "[\"hello\",{\"a\":1},[2,3],null]");
    expect_packet(LIT("4212[\"hello\",\"x\"]"), '4', 2, "/", 12, "[\"hello\",\"x\"]");
    expect_packet(LIT("420[\"hello\"]"), '4', 2, "/", 0, "[\"hello\"]");
    expect_packet(LIT("42007[\"hello\"]"), '4', 2, "/", 7, "[\"hello\"]");
    expect_packet(LIT("4312[\"ok\",{\"n\":1}]"), '4', 3, "/", 12, "[\"ok\",{\"n\":1}]");
    expect_packet(LIT("430[]"), '4', 3, "/", 0, "[]");
    expect_packet(LIT("44{\"message\":\"invalid token\"}"), '4', 4, "/", -1, "{\"message\":\"invalid token\"}");
    expect_packet(LIT("44\"Not authorized\""), '4', 4, "/", -1, "\"Not authorized\"");
}

static void test_namespace(void **state)
{
    (void)state;
    expect_packet(LIT("42/admin,[\"x\",1]"), '4', 2, "/admin", -1, "[\"x\",1]");
    expect_packet(LIT("42/admin,5[\"x\"]"), '4', 2, "/admin", 5, "[\"x\"]");
    expect_packet(LIT("43/admin,5[]"), '4', 3, "/admin", 5, "[]");
    expect_packet(LIT("40/admin,"), '4', 0, "/admin", -1, NULL);
    expect_packet(LIT("40/admin"), '4', 0, "/admin", -1, NULL);
    expect_packet(LIT("40/admin,{\"token\":\"t\"}"), '4', 0, "/admin", -1, "{\"token\":\"t\"}");
    expect_packet(LIT("41/admin,"), '4', 1, "/admin", -1, NULL);
    expect_packet(LIT("40/,{}"), '4', 0, "/", -1, "{}");
    expect_packet(LIT("44/a/b-c_d.e,{\"message\":\"m\"}"), '4', 4, "/a/b-c_d.e", -1, "{\"message\":\"m\"}");
    /* Without a leading '/', "admin," is not a namespace: it is read as a payload and is not JSON. */
    refused(LIT("42admin,[\"x\"]"), "payload is not valid JSON");
    refused(LIT("42/ad\tmin,[\"x\"]"), "namespace holds a character that is not printable ASCII");
    refused(LIT("42/adm\xc3\xa9,[\"x\"]"), "namespace holds a character that is not printable ASCII");
}

static void test_refusals(void **state)
{
    (void)state;
    refused(LIT(""), "empty frame");
    refused(NULL, 0, "empty frame");
    refused(LIT("7"), "unknown Engine.IO packet type");
    refused(LIT("b4AAA"), "unknown Engine.IO packet type");
    refused(LIT("x"), "unknown Engine.IO packet type");
    refused(LIT(" 40"), "unknown Engine.IO packet type");
    refused(LIT("1x"), "unexpected payload for this packet type");
    refused(LIT("2ping"), "unexpected payload for this packet type");
    refused(LIT("3probes"), "unexpected payload for this packet type");
    refused(LIT("2prob"), "unexpected payload for this packet type");
    refused(LIT("5probe"), "unexpected payload for this packet type");
    refused(LIT("6 "), "unexpected payload for this packet type");
    refused(LIT("0[]"), "OPEN payload must be an object");
    refused(LIT("0{"), "payload is not valid JSON");
    refused(LIT("4"), "MESSAGE without a Socket.IO packet type");
    refused(LIT("47"), "Socket.IO packet type out of range");
    refused(LIT("4x"), "Socket.IO packet type out of range");
    refused(LIT("4/"), "Socket.IO packet type out of range");
    refused(LIT("451-[\"x\",{\"_placeholder\":true,\"num\":0}]"), "binary packets are not supported");
    refused(LIT("461-0[{\"_placeholder\":true,\"num\":0}]"), "binary packets are not supported");
    refused(LIT("40[]"), "CONNECT payload must be an object");
    refused(LIT("40\"token\""), "CONNECT payload must be an object");
    refused(LIT("40null"), "CONNECT payload must be an object");
    refused(LIT("401"), "ack id not allowed on this packet type");
    refused(LIT("417"), "ack id not allowed on this packet type");
    refused(LIT("4412{\"message\":\"m\"}"), "ack id not allowed on this packet type");
    refused(LIT("41{}"), "unexpected payload for this packet type");
    refused(LIT("42"), "EVENT payload must be a non-empty array starting with a string");
    refused(LIT("4212"), "EVENT payload must be a non-empty array starting with a string");
    refused(LIT("42[]"), "EVENT payload must be a non-empty array starting with a string");
    refused(LIT("42[1,\"x\"]"), "EVENT payload must be a non-empty array starting with a string");
    refused(LIT("42{\"name\":\"x\"}"), "EVENT payload must be a non-empty array starting with a string");
    refused(LIT("42\"x\""), "EVENT payload must be a non-empty array starting with a string");
    refused(LIT("43[\"ok\"]"), "ACK without an ack id");
    refused(LIT("431"), "ACK payload must be an array");
    refused(LIT("431{}"), "ACK payload must be an array");
    refused(LIT("44"), "CONNECT_ERROR payload must be an object or a string");
    refused(LIT("44[]"), "CONNECT_ERROR payload must be an object or a string");
    refused(LIT("42[\"x\""), "payload is not valid JSON");
    refused(LIT("42[\"x\",{\"a\":1,\"a\":2}]"), "payload is not valid JSON");
    refused(LIT("40{\"token\":\"t\",\"token\":\"u\"}"), "payload is not valid JSON");
    refused(LIT("42[\"x\",'y']"), "payload is not valid JSON");
    refused(LIT("42[\"x\",NaN]"), "payload is not valid JSON");
    refused(LIT("42 "), "payload is not valid JSON");
}

static void test_ack_id_length(void **state)
{
    (void)state;
    expect_packet(LIT("42999999999999999[\"x\"]"), '4', 2, "/", 999999999999999LL, "[\"x\"]");
    expect_packet(LIT("43123456789012345[]"), '4', 3, "/", 123456789012345LL, "[]");
    expect_packet(LIT("43/admin,000000000000001[]"), '4', 3, "/admin", 1, "[]");
    refused(LIT("421000000000000000[\"x\"]"), "ack id longer than 15 digits");
    refused(LIT("439007199254740991[]"), "ack id longer than 15 digits");
    refused(LIT("430000000000000001[]"), "ack id longer than 15 digits");
    refused(LIT("4399999999999999999999999999999999999999[]"), "ack id longer than 15 digits");
}

static void test_namespace_length(void **state)
{
    (void)state;
    char nsp63[64], frame[128];
    nsp63[0] = '/';
    memset(nsp63 + 1, 'n', 62);
    nsp63[63] = '\0';
    int n = snprintf(frame, sizeof frame, "42%s,[\"x\"]", nsp63);
    expect_packet(frame, (size_t)n, '4', 2, nsp63, -1, "[\"x\"]");
    n = snprintf(frame, sizeof frame, "40%s", nsp63); /* up to the end of the frame */
    expect_packet(frame, (size_t)n, '4', 0, nsp63, -1, NULL);
    n = snprintf(frame, sizeof frame, "42%sn,[\"x\"]", nsp63);
    refused(frame, (size_t)n, "namespace longer than 63 bytes");
    n = snprintf(frame, sizeof frame, "40%sn", nsp63);
    refused(frame, (size_t)n, "namespace longer than 63 bytes");
}

static void test_nul_bytes(void **state)
{
    (void)state;
    refused(LIT("\0"), "frame contains a NUL byte");
    refused(LIT("4\0"), "frame contains a NUL byte");
    refused(LIT("42[\"x\0\"]"), "frame contains a NUL byte");
    refused(LIT("42[\"x\"]\0"), "frame contains a NUL byte");
    refused(LIT("2\0probe"), "frame contains a NUL byte");
    refused(LIT("40/ad\0min,"), "frame contains a NUL byte");
    /* An escaped NUL inside a JSON string is refused by jansson (no JSON_ALLOW_NUL). */
    refused(LIT("42[\"x\\u0000y\"]"), "payload is not valid JSON");
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    refused(LIT("42[\"x\"]garbage"), "payload is not valid JSON");
    refused(LIT("42[\"x\"][\"y\"]"), "payload is not valid JSON");
    refused(LIT("40{}{}"), "payload is not valid JSON");
    refused(LIT("40{},"), "payload is not valid JSON");
    refused(LIT("431[]1"), "payload is not valid JSON");
    refused(LIT("0{}x"), "payload is not valid JSON");
    expect_packet(LIT("42[\"x\"]  \r\n\t"), '4', 2, "/", -1, "[\"x\"]");
}

/* Frame 42["x", followed by depth nested arrays, then "]". */
static char *nested_event(size_t depth, size_t *len)
{
    size_t n = 7 + 2 * depth + 1;
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, "42[\"x\",", 7);
    memset(s + 7, '[', depth);
    memset(s + 7 + depth, ']', depth);
    s[7 + 2 * depth] = ']';
    s[n] = '\0';
    *len = n;
    return s;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    size_t len;
    /* jansson's limit is JSON_PARSER_MAX_DEPTH (2048) levels, the event array being the first. */
    char *ok = nested_event(2047, &len);
    struct sio_packet pk;
    parse_ok(ok, len, &pk);
    sio_packet_clear(&pk);
    free(ok);
    char *over = nested_event(2048, &len);
    refused(over, len, "payload is not valid JSON");
    free(over);
    char *deep = nested_event(100000, &len);
    refused(deep, len, "payload is not valid JSON");
    free(deep);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    refused(LIT("42[\"\xff\"]"), "payload is not valid JSON");
    refused(LIT("42[\"x\",\"\xc3\"]"), "payload is not valid JSON");
    refused(LIT("42[\"x\",\"\xc0\xaf\"]"), "payload is not valid JSON");          /* overlong '/' */
    refused(LIT("42[\"x\",\"\xed\xa0\x80\"]"), "payload is not valid JSON");      /* a surrogate */
    refused(LIT("40{\"token\":\"\xf4\x90\x80\x80\"}"), "payload is not valid JSON"); /* above U+10FFFF */
    refused(LIT("42[\"x\",\"\\ud800\"]"), "payload is not valid JSON");           /* lone escaped surrogate */
    expect_packet(LIT("42[\"ol\xc3\xa1\",\"\xf0\x9f\x98\x80\"]"), '4', 2, "/", -1,
                  "[\"ol\xc3\xa1\",\"\xf0\x9f\x98\x80\"]");
}

/* Frees s after checking it equals want. */
static void encoded_is(char *s, const char *want)
{
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
}

static void test_encode_exact(void **state)
{
    (void)state;
    encoded_is(sio_encode_open("abc", false, 25000, 20000, 65536),
               "0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":65536}");
    encoded_is(sio_encode_open("abc", true, 25000, 20000, 65536),
               "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,"
               "\"maxPayload\":65536}");
    encoded_is(sio_encode_connect("s1"), "40{\"sid\":\"s1\"}");
    encoded_is(sio_encode_connect_error("invalid token"), "44{\"message\":\"invalid token\"}");
    encoded_is(sio_encode_event("ping", NULL), "42[\"ping\"]");
    json_t *data = json_pack("{s:s,s:i}", "code", "bad_packet", "n", 1);
    encoded_is(sio_encode_event("error", data), "42[\"error\",{\"code\":\"bad_packet\",\"n\":1}]");
    assert_int_equal(data->refcount, 1); /* borrowed */
    json_decref(data);
    encoded_is(sio_encode_ack(7, NULL), "437[]");
    json_t *args = json_pack("[s,i]", "ok", 2);
    encoded_is(sio_encode_ack(0, args), "430[\"ok\",2]");
    assert_int_equal(args->refcount, 1);
    json_decref(args);
    encoded_is(sio_encode_event("q\"b\\s", NULL), "42[\"q\\\"b\\\\s\"]");
}

static void test_encode_bad_arguments(void **state)
{
    (void)state;
    json_t *obj = json_object();
    assert_null(sio_encode_open(NULL, false, 1, 1, 1));
    assert_null(sio_encode_open("s", false, -1, 1, 1));
    assert_null(sio_encode_open("\xff", false, 1, 1, 1));
    assert_null(sio_encode_connect(NULL));
    assert_null(sio_encode_connect("\xc3"));
    assert_null(sio_encode_connect_error(NULL));
    assert_null(sio_encode_event(NULL, obj));
    assert_null(sio_encode_event("\xed\xa0\x80", obj));
    assert_null(sio_encode_ack(-1, NULL));
    assert_null(sio_encode_ack(SIO_ACK_ID_MAX + 1, NULL));
    assert_null(sio_encode_ack(1, obj));
    assert_int_equal(obj->refcount, 1);
    json_decref(obj);
}

/* Parses s (then frees it) and checks the packet. */
static void reparsed(char *s, char eio, int sio, long long ack, const json_t *want)
{
    assert_non_null(s);
    struct sio_packet pk;
    parse_ok(s, strlen(s), &pk);
    assert_int_equal(pk.eio, eio);
    assert_int_equal(pk.sio, sio);
    assert_string_equal(pk.nsp, "/");
    assert_int_equal(pk.ack_id, ack);
    if (!json_equal(pk.data, want))
        fail_msg("frame %s parsed to different data", s);
    sio_packet_clear(&pk);
    free(s);
}

static const char *const tricky[] = {
    "", "plain", "quote\"inside", "back\\slash", "both \\\" mixed", "slash/es", "tab\tnew\nline\r",
    "ctl\x01\x1f\x7f", "ol\xc3\xa1 m\xc3\xa9" "dico", "\xe2\x82\xac \xf0\x9f\x8f\xa5 \xe4\xb8\xad",
    "ends with backslash\\", "]\",[{", "</script>", "\xef\xbb\xbf" "bom",
};
#define N_TRICKY (sizeof tricky / sizeof tricky[0])

static void test_round_trip_strings(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_TRICKY; i++) {
        json_t *want = json_pack("{s:s,s:[],s:I,s:I,s:I}", "sid", tricky[i], "upgrades", "pingInterval",
                                 (json_int_t)25000, "pingTimeout", (json_int_t)20000, "maxPayload",
                                 (json_int_t)1000000);
        reparsed(sio_encode_open(tricky[i], false, 25000, 20000, 1000000), '0', -1, -1, want);
        json_decref(want);
        want = json_pack("{s:s}", "sid", tricky[i]);
        reparsed(sio_encode_connect(tricky[i]), '4', 0, -1, want);
        json_decref(want);
        want = json_pack("{s:s}", "message", tricky[i]);
        reparsed(sio_encode_connect_error(tricky[i]), '4', 4, -1, want);
        json_decref(want);
    }
}

static void test_round_trip_events(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_TRICKY; i++) {
        json_t *data = json_pack("{s:s,s:[s,i,f,b,n],s:{}}", tricky[i], tricky[(i + 1) % N_TRICKY], "list",
                                 tricky[(i + 2) % N_TRICKY], -42, 0.1, 1, "empty");
        assert_non_null(data);
        json_t *want = json_pack("[s,O]", tricky[i], data);
        reparsed(sio_encode_event(tricky[i], data), '4', 2, -1, want);
        json_decref(want);
        want = json_pack("[s]", tricky[i]);
        reparsed(sio_encode_event(tricky[i], NULL), '4', 2, -1, want);
        json_decref(want);
        want = json_pack("[s,O,O]", tricky[i], data, json_null());
        reparsed(sio_encode_ack((long long)i * 1000003, want), '4', 3, (long long)i * 1000003, want);
        json_decref(want);
        json_decref(data);
    }
    json_t *scalar = json_integer(-9007199254740991LL);
    json_t *want = json_pack("[s,O]", "n", scalar);
    reparsed(sio_encode_event("n", scalar), '4', 2, -1, want);
    json_decref(want);
    json_decref(scalar);
    json_t *empty = json_array();
    reparsed(sio_encode_ack(0, NULL), '4', 3, 0, empty);
    reparsed(sio_encode_ack(SIO_ACK_ID_MAX, empty), '4', 3, SIO_ACK_ID_MAX, empty);
    json_decref(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engineio_types),
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_disconnect_event_ack_error),
        cmocka_unit_test(test_namespace),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_ack_id_length),
        cmocka_unit_test(test_namespace_length),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_encode_exact),
        cmocka_unit_test(test_encode_bad_arguments),
        cmocka_unit_test(test_round_trip_strings),
        cmocka_unit_test(test_round_trip_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
