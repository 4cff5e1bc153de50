/* xlsx_closings: the payout workbook of monthly closings (the spreadsheet an admin pays the doctors
 * from), built with libxlsxwriter. It is the one place a doctor's PIX key appears in full.
 *
 * libxlsxwriter 1.1.4 writes only to a file: the workbook goes to a mkstemp() file in a private
 * (0700) directory made for the call, is read back and both are removed whatever happens. */
#ifndef API_XLSX_CLOSINGS_H
#define API_XLSX_CLOSINGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The MIME type of an .xlsx file. */
#define XLSX_CONTENT_TYPE "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

/* Builds the workbook from doc (not stolen):
 *   {"title": text, "currency": "BRL",
 *    "closings": [{doctor_name, consultation_count, gross_cents, net_cents, pix_key_type, pix_key,
 *                  status, payment_reference,
 *                  lines: [{local_time "YYYY-MM-DD HH:MM:SS", kind, description, patient_name,
 *                           amount_cents, doctor_cents}]}]}
 * Sheet "Closings": a title row, the header (frozen), one row per closing and a totals row (SUM
 * formulas with their values cached); sheet "Lines": every line of those closings. On success
 * *data (caller frees) holds the file's *len bytes; false (logged) on any failure. */
bool xlsx_closings_build(const json_t *doc, char **data, size_t *len);

#endif
