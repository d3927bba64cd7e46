/*
 * Compute-to-data sample job: hourly statistics and anomaly flags over the provider's Air Quality
 * recording, as NDJSON on stdout. Reads /in/AirQualityUCI.csv (or argv[1]); argv[2] is the anomaly
 * threshold in standard deviations (default 4).
 *
 * Lines: one {"type":"hour"} per hour of the day (0-23) with count, mean, min, max and standard
 * deviation of every field over all days; one {"type":"anomaly"} per reading more than the threshold
 * away from its hour's mean; one {"type":"summary"} at the end.
 */
#include "airQuality.h"

static aq_row rows[AQ_MAX_ROWS];

typedef struct {
  long n;
  double sum, sum_sq, min, max;
} stat;

static stat stats[24][AQ_FIELDS];

static double mean_of(const stat *s) { return s->sum / (double)s->n; }
static double sd_of(const stat *s) {
  double m = mean_of(s);
  double v = s->sum_sq / (double)s->n - m * m;
  return v > 0 ? sqrt(v) : 0;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "/in/AirQualityUCI.csv";
  double threshold = argc > 2 ? atof(argv[2]) : 4.0;
  int count = aq_read(path, rows);
  if (count < 0) return 1;
  for (int h = 0; h < 24; h++)
    for (int f = 0; f < AQ_FIELDS; f++) stats[h][f] = (stat){0, 0, 0, INFINITY, -INFINITY};
  for (int r = 0; r < count; r++) {
    if (rows[r].hour < 0 || rows[r].hour > 23) continue;
    for (int f = 0; f < AQ_FIELDS; f++) {
      double v = rows[r].value[f];
      if (isnan(v)) continue;
      stat *s = &stats[rows[r].hour][f];
      s->n++;
      s->sum += v;
      s->sum_sq += v * v;
      if (v < s->min) s->min = v;
      if (v > s->max) s->max = v;
    }
  }
  for (int h = 0; h < 24; h++) {
    printf("{\"type\":\"hour\",\"hour\":%d,\"fields\":{", h);
    for (int f = 0; f < AQ_FIELDS; f++) {
      const stat *s = &stats[h][f];
      if (s->n == 0)
        printf("%s\"%s\":{\"n\":0}", f ? "," : "", AQ_FIELD_NAMES[f]);
      else
        printf("%s\"%s\":{\"n\":%ld,\"mean\":%.6g,\"min\":%.6g,\"max\":%.6g,\"sd\":%.6g}", f ? "," : "",
               AQ_FIELD_NAMES[f], s->n, mean_of(s), s->min, s->max, sd_of(s));
    }
    printf("}}\n");
  }
  long anomalies = 0;
  for (int r = 0; r < count; r++) {
    const aq_row *row = &rows[r];
    if (row->hour < 0 || row->hour > 23) continue;
    for (int f = 0; f < AQ_FIELDS; f++) {
      double v = row->value[f];
      const stat *s = &stats[row->hour][f];
      double sd = s->n > 1 ? sd_of(s) : 0;
      if (isnan(v) || sd == 0) continue;
      double z = (v - mean_of(s)) / sd;
      if (fabs(z) > threshold) {
        anomalies++;
        printf("{\"type\":\"anomaly\",\"date\":\"%04d-%02d-%02d\",\"hour\":%d,\"field\":\"%s\",\"value\":%.6g,"
               "\"z\":%.3f}\n",
               row->year, row->month, row->day, row->hour, AQ_FIELD_NAMES[f], v, z);
      }
    }
  }
  printf("{\"type\":\"summary\",\"rows\":%d,\"anomalies\":%ld,\"threshold\":%.3g}\n", count, anomalies, threshold);
  return 0;
}
