/* date.h -- calendar helpers shared inside the library. */
#ifndef XY_DATE_H
#define XY_DATE_H

#include "xinyong.h"

xy_day xy__day_from_civil(int y, int m, int d);
void xy__civil_from_day(xy_day day, int *y, int *m, int *d);
int xy__days_in_month(int y, int m);

#endif
