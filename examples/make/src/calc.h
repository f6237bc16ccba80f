#ifndef CALC_H
#define CALC_H
#define CALC_BASE 7
int square(int x);
#endif
