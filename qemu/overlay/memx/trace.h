/* qemu-memx's trace events (memx/trace-events), for every qemu-memx file */
#include "trace/trace-memx.h"
