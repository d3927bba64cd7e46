/*
 * Reading the UCI Air Quality CSV (S. De Vito et al., 2008; CC BY 4.0) as published: `;`-separated,
 * decimal comma, date DD/MM/YYYY, time HH.MM.SS, -200 for a missing value, empty rows at the end.
 * Shared by the sample job modules; compiled for wasm32-wasi.
 */
#ifndef AIR_QUALITY_H
#define AIR_QUALITY_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AQ_FIELDS 13
#define AQ_MAX_ROWS 20000

static const char *const AQ_FIELD_NAMES[AQ_FIELDS] = {
    "CO(GT)", "PT08.S1(CO)", "NMHC(GT)", "C6H6(GT)", "PT08.S2(NMHC)", "NOx(GT)", "PT08.S3(NOx)",
    "NO2(GT)", "PT08.S4(NO2)", "PT08.S5(O3)", "T", "RH", "AH"};

typedef struct {
  int year, month, day, hour;
  double value[AQ_FIELDS]; /* NAN when missing */
} aq_row;

/* Index of the field called `name`, or -1. */
static inline int aq_field_index(const char *name) {
  for (int i = 0; i < AQ_FIELDS; i++)
    if (strcmp(AQ_FIELD_NAMES[i], name) == 0) return i;
  return -1;
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil). */
static inline long aq_days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  long era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (long)doe - 719468;
}

/* The civil date of a day count (H. Hinnant's civil_from_days). */
static inline void aq_civil_from_days(long z, int *y, int *m, int *d) {
  z += 719468;
  long era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long yy = (long)yoe + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yy + (*m <= 2));
}

/* One value: decimal comma, -200 or empty is missing. */
static inline double aq_parse_value(char *text) {
  if (*text == '\0') return NAN;
  for (char *c = text; *c; c++)
    if (*c == ',') *c = '.';
  char *end;
  double v = strtod(text, &end);
  if (end == text || v == -200.0) return NAN;
  return v;
}

/* Splits `line` at `;` in place (no quoting in this file). Returns the number of fields. */
static inline int aq_split(char *line, char **fields, int max) {
  int n = 0;
  char *start = line;
  for (char *c = line;; c++) {
    if (*c == ';' || *c == '\0' || *c == '\n' || *c == '\r') {
      int last = *c != ';';
      *c = '\0';
      if (n < max) fields[n++] = start;
      if (last) break;
      start = c + 1;
    }
  }
  return n;
}

/*
 * Reads the rows of the file at `path` into `rows` (at most AQ_MAX_ROWS). Returns the number read,
 * or -1 (with a message on stderr) when the file cannot be opened.
 */
static inline int aq_read(const char *path, aq_row *rows) {
  FILE *file = fopen(path, "r");
  if (!file) {
    fprintf(stderr, "cannot open %s\n", path);
    return -1;
  }
  char line[1024];
  char *fields[AQ_FIELDS + 8];
  int count = 0;
  if (!fgets(line, sizeof line, file)) { /* header */
    fclose(file);
    return 0;
  }
  while (count < AQ_MAX_ROWS && fgets(line, sizeof line, file)) {
    int n = aq_split(line, fields, AQ_FIELDS + 8);
    if (n < 2 + AQ_FIELDS || fields[0][0] == '\0') continue;
    aq_row *row = &rows[count];
    int hour, minute, second;
    if (sscanf(fields[0], "%d/%d/%d", &row->day, &row->month, &row->year) != 3) continue;
    if (sscanf(fields[1], "%d.%d.%d", &hour, &minute, &second) != 3) continue;
    row->hour = hour;
    for (int i = 0; i < AQ_FIELDS; i++) row->value[i] = aq_parse_value(fields[2 + i]);
    count++;
  }
  fclose(file);
  return count;
}

#endif
