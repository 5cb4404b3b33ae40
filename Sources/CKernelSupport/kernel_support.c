// The module is header-only (include/kernel_support.h); SwiftPM wants a source file in every C target.
#include "kernel_support.h"
