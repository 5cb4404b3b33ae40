#define _GNU_SOURCE
#include <fcntl.h>
#include "direct_io.h"

int llama_convert_o_direct_flag(void) {
#ifdef O_DIRECT
    return O_DIRECT;
#else
    return 0;
#endif
}
