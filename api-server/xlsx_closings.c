/* xlsx_closings: builds the payout workbook of monthly closings (see xlsx_closings.h). */
#include "xlsx_closings.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xlsxwriter.h>

#include "fileio.h"
#include "log.h"

/* No export comes near this; it only bounds what is read back. */
#define XLSX_MAX_BYTES (64u * 1024 * 1024)

#define MIN_WIDTH 10.0
#define MAX_WIDTH 60.0

/* A sheet being written: its first error is kept (later writes still run, harmlessly). */
struct sheet {
    lxw_worksheet *ws;
    lxw_error err;
    int ncols;
    double width[8];
};

struct formats {
    lxw_format *title, *header, *text, *count, *money, *when, *total_label, *total_count, *total_money;
};

static void keep(struct sheet *s, lxw_error e)
{
    if (e != LXW_NO_ERROR && s->err == LXW_NO_ERROR)
        s->err = e;
}

/* Characters (not bytes) of a UTF-8 text, for column widths. */
static size_t text_chars(const char *t)
{
    size_t n = 0;
    for (; *t; t++)
        if (((unsigned char)*t & 0xC0) != 0x80)
            n++;
    return n;
}

static void widen(struct sheet *s, int col, double w)
{
    if (w + 2 > s->width[col])
        s->width[col] = w + 2;
}

static void put_text(struct sheet *s, int row, int col, const char *t, lxw_format *f)
{
    if (!t || !*t) {
        keep(s, worksheet_write_blank(s->ws, (lxw_row_t)row, (lxw_col_t)col, f));
        return;
    }
    keep(s, worksheet_write_string(s->ws, (lxw_row_t)row, (lxw_col_t)col, t, f));
    widen(s, col, (double)text_chars(t));
}

static void put_number(struct sheet *s, int row, int col, double v, lxw_format *f, double shown_width)
{
    keep(s, worksheet_write_number(s->ws, (lxw_row_t)row, (lxw_col_t)col, v, f));
    widen(s, col, shown_width);
}

/* Characters of cents as "-1,234,567.89". */
static double money_width(int64_t cents)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", (long long)(cents / 100));
    return (double)(n + (n - 1) / 3 + 3);
}

/* A totals cell: =SUM(<col><first>:<col><last>) (1-based rows) with value cached, for readers that
 * do not recalculate; with no rows to add, just the value (0). */
static void put_sum(struct sheet *s, int row, int col, int first, int last, double v, lxw_format *f)
{
    if (last < first) {
        keep(s, worksheet_write_number(s->ws, (lxw_row_t)row, (lxw_col_t)col, v, f));
        return;
    }
    char formula[64];
    char letter = (char)('A' + col);
    snprintf(formula, sizeof formula, "=SUM(%c%d:%c%d)", letter, first, letter, last);
    keep(s, worksheet_write_formula_num(s->ws, (lxw_row_t)row, (lxw_col_t)col, formula, f, v));
}

static void header_row(struct sheet *s, const char *title, const char *const *headers, const char *currency,
                       const struct formats *fm)
{
    put_text(s, 0, 0, title, fm->title);
    s->width[0] = MIN_WIDTH; /* the title spills over; it does not size the first column */
    keep(s, worksheet_set_row(s->ws, 0, 22, NULL));
    for (int c = 0; c < s->ncols; c++) {
        char h[64];
        /* A header ending in '$' is a money column: the currency code goes in its name. */
        size_t n = strlen(headers[c]);
        if (n > 0 && headers[c][n - 1] == '$')
            snprintf(h, sizeof h, "%.*s(%s)", (int)(n - 1), headers[c], currency);
        else
            snprintf(h, sizeof h, "%s", headers[c]);
        put_text(s, 1, c, h, fm->header);
    }
    worksheet_freeze_panes(s->ws, 2, 0);
}

static void finish_sheet(struct sheet *s)
{
    for (int c = 0; c < s->ncols; c++) {
        double w = s->width[c] < MIN_WIDTH ? MIN_WIDTH : s->width[c] > MAX_WIDTH ? MAX_WIDTH : s->width[c];
        keep(s, worksheet_set_column(s->ws, (lxw_col_t)c, (lxw_col_t)c, w, NULL));
    }
}

static const char *str_of(const json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }
static int64_t int_of(const json_t *o, const char *key) { return (int64_t)json_integer_value(json_object_get(o, key)); }

static void closings_sheet(struct sheet *s, const json_t *doc, const char *currency, const struct formats *fm)
{
    static const char *const headers[] = {"Doctor", "Consultations", "Gross $", "Doctor net $",
                                          "PIX key type", "PIX key", "Status", "Payment reference"};
    s->ncols = 8;
    header_row(s, str_of(doc, "title"), headers, currency, fm);
    const json_t *closings = json_object_get(doc, "closings");
    int row = 2;
    int64_t count = 0, gross = 0, net = 0;
    size_t i;
    const json_t *c;
    json_array_foreach(closings, i, c) {
        int64_t cn = int_of(c, "consultation_count"), g = int_of(c, "gross_cents"), n = int_of(c, "net_cents");
        count += cn, gross += g, net += n;
        put_text(s, row, 0, str_of(c, "doctor_name"), fm->text);
        put_number(s, row, 1, (double)cn, fm->count, 6);
        put_number(s, row, 2, (double)g / 100.0, fm->money, money_width(g));
        put_number(s, row, 3, (double)n / 100.0, fm->money, money_width(n));
        put_text(s, row, 4, str_of(c, "pix_key_type"), fm->text);
        put_text(s, row, 5, str_of(c, "pix_key"), fm->text);
        put_text(s, row, 6, str_of(c, "status"), fm->text);
        put_text(s, row, 7, str_of(c, "payment_reference"), fm->text);
        row++;
    }
    /* Data rows are rows 3..row in A1 terms (0-based 2..row-1). */
    put_text(s, row, 0, "Total", fm->total_label);
    put_sum(s, row, 1, 3, row, (double)count, fm->total_count);
    put_sum(s, row, 2, 3, row, (double)gross / 100.0, fm->total_money);
    put_sum(s, row, 3, 3, row, (double)net / 100.0, fm->total_money);
    widen(s, 2, money_width(gross));
    widen(s, 3, money_width(net));
    for (int col = 4; col < s->ncols; col++)
        keep(s, worksheet_write_blank(s->ws, (lxw_row_t)row, (lxw_col_t)col, fm->total_label));
    finish_sheet(s);
}

/* "YYYY-MM-DD HH:MM:SS" into dt; false when malformed. */
static bool parse_local_time(const char *t, lxw_datetime *dt)
{
    int y, mo, d, h, mi, se;
    if (!t || sscanf(t, "%4d-%2d-%2d %2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6)
        return false;
    *dt = (lxw_datetime){.year = y, .month = mo, .day = d, .hour = h, .min = mi, .sec = se};
    return true;
}

static void lines_sheet(struct sheet *s, const json_t *doc, const char *currency, const struct formats *fm)
{
    static const char *const headers[] = {"Doctor", "Date", "Kind", "Description", "Patient", "Amount $",
                                          "Doctor amount $"};
    s->ncols = 7;
    header_row(s, str_of(doc, "title"), headers, currency, fm);
    widen(s, 1, 16);
    int row = 2;
    size_t i, j;
    const json_t *c, *l;
    json_array_foreach(json_object_get(doc, "closings"), i, c) {
        const char *doctor = str_of(c, "doctor_name");
        json_array_foreach(json_object_get(c, "lines"), j, l) {
            int64_t a = int_of(l, "amount_cents"), d = int_of(l, "doctor_cents");
            lxw_datetime dt;
            put_text(s, row, 0, doctor, fm->text);
            if (parse_local_time(str_of(l, "local_time"), &dt))
                keep(s, worksheet_write_datetime(s->ws, (lxw_row_t)row, 1, &dt, fm->when));
            else
                put_text(s, row, 1, str_of(l, "local_time"), fm->text);
            put_text(s, row, 2, str_of(l, "kind"), fm->text);
            put_text(s, row, 3, str_of(l, "description"), fm->text);
            put_text(s, row, 4, str_of(l, "patient_name"), fm->text);
            put_number(s, row, 5, (double)a / 100.0, fm->money, money_width(a));
            put_number(s, row, 6, (double)d / 100.0, fm->money, money_width(d));
            row++;
        }
    }
    finish_sheet(s);
}

/* False when a format could not be made (out of memory). */
static bool make_formats(lxw_workbook *wb, struct formats *fm)
{
    lxw_format **all[] = {&fm->title, &fm->header, &fm->text, &fm->count, &fm->money, &fm->when,
                          &fm->total_label, &fm->total_count, &fm->total_money};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!(*all[i] = workbook_add_format(wb)))
            return false;

    format_set_bold(fm->title);
    format_set_font_size(fm->title, 14);

    format_set_bold(fm->header);
    format_set_pattern(fm->header, LXW_PATTERN_SOLID);
    format_set_bg_color(fm->header, 0xD9E1F2);
    format_set_border(fm->header, LXW_BORDER_THIN);
    format_set_text_wrap(fm->header);
    format_set_align(fm->header, LXW_ALIGN_VERTICAL_CENTER);

    format_set_num_format(fm->count, "0");
    format_set_num_format(fm->money, "#,##0.00");
    format_set_num_format(fm->when, "yyyy-mm-dd hh:mm");
    format_set_align(fm->when, LXW_ALIGN_LEFT);

    format_set_bold(fm->total_label);
    format_set_top(fm->total_label, LXW_BORDER_DOUBLE);
    format_set_bold(fm->total_count);
    format_set_top(fm->total_count, LXW_BORDER_DOUBLE);
    format_set_num_format(fm->total_count, "0");
    format_set_bold(fm->total_money);
    format_set_top(fm->total_money, LXW_BORDER_DOUBLE);
    format_set_num_format(fm->total_money, "#,##0.00");
    return true;
}

/* Writes the workbook to path (libxlsxwriter's own temporary files in tmpdir). */
static bool write_workbook(const json_t *doc, const char *path, char *tmpdir)
{
    lxw_workbook_options opts = {.constant_memory = 0, .tmpdir = tmpdir, .use_zip64 = 0};
    lxw_workbook *wb = workbook_new_opt(path, &opts);
    if (!wb) {
        log_error("xlsx: cannot create a workbook");
        return false;
    }
    const char *currency = str_of(doc, "currency");
    if (!currency)
        currency = "";
    struct formats fm;
    bool formats = make_formats(wb, &fm);
    struct sheet sc = {.ws = workbook_add_worksheet(wb, "Closings")};
    struct sheet sl = {.ws = workbook_add_worksheet(wb, "Lines")};
    bool ok = formats && sc.ws && sl.ws;
    if (ok) {
        closings_sheet(&sc, doc, currency, &fm);
        lines_sheet(&sl, doc, currency, &fm);
        if (sc.err != LXW_NO_ERROR || sl.err != LXW_NO_ERROR) {
            log_error("xlsx: writing a cell failed: %s", lxw_strerror(sc.err != LXW_NO_ERROR ? sc.err : sl.err));
            ok = false;
        }
    } else {
        log_error("xlsx: cannot add a worksheet or a format");
    }
    /* workbook_close frees the workbook whatever it returns. */
    lxw_error e = workbook_close(wb);
    if (e != LXW_NO_ERROR) {
        log_error("xlsx: cannot write the workbook: %s", lxw_strerror(e));
        ok = false;
    }
    return ok;
}

bool xlsx_closings_build(const json_t *doc, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    const char *base = getenv("TMPDIR");
    if (!base || base[0] != '/')
        base = "/tmp";
    char dir[512], path[600];
    if (snprintf(dir, sizeof dir, "%s/clinic-xlsx-XXXXXX", base) >= (int)sizeof dir) {
        log_error("xlsx: TMPDIR is too long");
        return false;
    }
    if (!mkdtemp(dir)) {
        log_error("xlsx: cannot create a temporary directory in %s: %s", base, strerror(errno));
        return false;
    }
    snprintf(path, sizeof path, "%s/closings-XXXXXX", dir);
    int fd = mkstemp(path);
    bool ok = false;
    if (fd < 0) {
        log_error("xlsx: cannot create a temporary file in %s: %s", dir, strerror(errno));
    } else {
        close(fd); /* libxlsxwriter opens the file by its name */
        if (write_workbook(doc, path, dir)) {
            *data = file_read_all(path, XLSX_MAX_BYTES, len);
            if (*data)
                ok = true;
            else
                log_error("xlsx: cannot read the workbook back: %s", strerror(errno));
        }
        if (unlink(path) != 0)
            log_error("xlsx: cannot remove %s: %s", path, strerror(errno));
    }
    if (rmdir(dir) != 0)
        log_error("xlsx: cannot remove %s: %s", dir, strerror(errno));
    return ok;
}
