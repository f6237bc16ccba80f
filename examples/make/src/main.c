#include <stdio.h>
#include "greet.h"
#include "calc.h"

int main(void) {
  greet("dircache");
  printf("%d squared is %d\n", CALC_BASE, square(CALC_BASE));
  return 0;
}
