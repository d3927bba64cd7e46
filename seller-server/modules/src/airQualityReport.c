/*
 * App sample job with parameters: a daily report and a linear-trend forecast of one Air Quality field
 * over a chosen date range.
 *
 *   airQualityReport --field <name> --from <YYYY-MM-DD> --to <YYYY-MM-DD> [--horizon <days>] [--input <path>]
 *
 * NDJSON on stdout: one {"type":"day"} per day in the range that has readings (count, mean, min, max),
 * one {"type":"trend"} (least-squares slope per day over the daily means), and one {"type":"forecast"}
 * per day of the horizon after the range. Also writes /out/report.csv with the daily rows. Bad
 * parameters: a message on stderr and exit status 2.
 */
#include "airQuality.h"

static aq_row rows[AQ_MAX_ROWS];

#define MAX_DAYS 1000

static int parse_date(const char *text, long *days) {
  int y, m, d;
  if (!text || sscanf(text, "%d-%d-%d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 || d > 31) return 0;
  *days = aq_days_from_civil(y, m, d);
  return 1;
}

static int usage(const char *problem) {
  fprintf(stderr, "%s\nusage: airQualityReport --field <name> --from <YYYY-MM-DD> --to <YYYY-MM-DD> [--horizon <days>]\n",
          problem);
  return 2;
}

int main(int argc, char **argv) {
  const char *field_name = NULL, *from_text = NULL, *to_text = NULL, *path = "/in/AirQualityUCI.csv";
  int horizon = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--field") == 0) field_name = argv[i + 1];
    else if (strcmp(argv[i], "--from") == 0) from_text = argv[i + 1];
    else if (strcmp(argv[i], "--to") == 0) to_text = argv[i + 1];
    else if (strcmp(argv[i], "--horizon") == 0) horizon = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--input") == 0) path = argv[i + 1];
    else return usage("unknown option");
  }
  int field = field_name ? aq_field_index(field_name) : -1;
  if (field < 0) return usage("unknown or missing --field");
  long from, to;
  if (!parse_date(from_text, &from) || !parse_date(to_text, &to) || to < from) return usage("bad --from/--to");
  if (to - from + 1 > MAX_DAYS) return usage("range above 1000 days");
  if (horizon < 0 || horizon > 365) return usage("--horizon must be 0..365");

  int count = aq_read(path, rows);
  if (count < 0) return 1;
  static long n[MAX_DAYS];
  static double sum[MAX_DAYS], min[MAX_DAYS], max[MAX_DAYS];
  for (long d = 0; d <= to - from; d++) {
    min[d] = INFINITY;
    max[d] = -INFINITY;
  }
  for (int r = 0; r < count; r++) {
    long day = aq_days_from_civil(rows[r].year, rows[r].month, rows[r].day);
    double v = rows[r].value[field];
    if (day < from || day > to || isnan(v)) continue;
    long d = day - from;
    n[d]++;
    sum[d] += v;
    if (v < min[d]) min[d] = v;
    if (v > max[d]) max[d] = v;
  }

  FILE *csv = fopen("/out/report.csv", "w");
  if (csv) fprintf(csv, "date,field,n,mean,min,max\n");
  /* Least squares over (day index, daily mean). */
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  long days_with_data = 0;
  for (long d = 0; d <= to - from; d++) {
    if (n[d] == 0) continue;
    int y, m, dd;
    aq_civil_from_days(from + d, &y, &m, &dd);
    double mean = sum[d] / (double)n[d];
    printf("{\"type\":\"day\",\"date\":\"%04d-%02d-%02d\",\"field\":\"%s\",\"n\":%ld,\"mean\":%.6g,\"min\":%.6g,"
           "\"max\":%.6g}\n",
           y, m, dd, AQ_FIELD_NAMES[field], n[d], mean, min[d], max[d]);
    if (csv) fprintf(csv, "%04d-%02d-%02d,%s,%ld,%.6g,%.6g,%.6g\n", y, m, dd, AQ_FIELD_NAMES[field], n[d], mean, min[d], max[d]);
    days_with_data++;
    sx += (double)d;
    sy += mean;
    sxx += (double)d * (double)d;
    sxy += (double)d * mean;
  }
  if (csv) fclose(csv);
  double denominator = (double)days_with_data * sxx - sx * sx;
  if (days_with_data < 2 || denominator == 0) {
    printf("{\"type\":\"trend\",\"days\":%ld,\"slope\":null}\n", days_with_data);
    return 0;
  }
  double slope = ((double)days_with_data * sxy - sx * sy) / denominator;
  double intercept = (sy - slope * sx) / (double)days_with_data;
  printf("{\"type\":\"trend\",\"days\":%ld,\"slope\":%.6g,\"intercept\":%.6g}\n", days_with_data, slope, intercept);
  for (int h = 1; h <= horizon; h++) {
    long d = to - from + h;
    int y, m, dd;
    aq_civil_from_days(from + d, &y, &m, &dd);
    printf("{\"type\":\"forecast\",\"date\":\"%04d-%02d-%02d\",\"field\":\"%s\",\"mean\":%.6g}\n", y, m, dd,
           AQ_FIELD_NAMES[field], intercept + slope * (double)d);
  }
  return 0;
}
